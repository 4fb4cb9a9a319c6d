// ThreadSanitizer's defaults for the wsproxy binary (only under
// --config=tsan; an ordinary build compiles nothing here).
//
// Debian's gRPC, protobuf and abseil are not built with TSan: their own
// accesses are ignored, and the races TSan then reports inside gRPC's
// inline C++ API (whose locking happens in the uninstrumented library) are
// suppressed. Our code on the workers and the main thread (reloads by
// SIGHUP, drain, the data path) is checked in full; admin calls arrive on
// gRPC's threads, whose stacks the suppressions below also cover.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WSPROXY_TSAN 1
#endif
#endif

#ifdef WSPROXY_TSAN
extern "C" const char* __tsan_default_options() {
  return "ignore_noninstrumented_modules=1:halt_on_error=1:exitcode=66";
}

extern "C" const char* __tsan_default_suppressions() {
  return "race:grpc::\n"
         "race:grpc_\n"
         "race:grpc_core::\n"
         "race:grpc_event_engine::\n"
         "called_from_lib:libgrpc.so\n"
         "called_from_lib:libgrpc++.so\n"
         "called_from_lib:libgpr.so\n"
         "called_from_lib:libprotobuf.so\n";
}
#endif

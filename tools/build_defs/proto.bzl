"""C++ code generation for wsproxy's .proto files with the system protoc.

Bazel 4's native proto rules want @com_google_protobuf, which cannot be
fetched offline, so a genrule calls Debian's /usr/bin/protoc (and
grpc_cpp_plugin for services) and a cc_library wraps the output. Imports are
rooted at api/ (as buf sees them): `import "wsproxy/config/v1/tls.proto";`
and C++ includes `"wsproxy/config/v1/tls.pb.h"`.
"""

def wsproxy_cc_proto(name, srcs, deps = [], grpc = False, visibility = ["//visibility:public"]):
    """Generates C++ for `srcs` into cc_library `name`.

    Args:
      name: the cc_library's name; `<name>_protos` is a filegroup of srcs
        that dependent packages' protoc runs need to see.
      srcs: .proto files in this package.
      deps: other wsproxy_cc_proto targets that srcs import.
      grpc: also generate gRPC service code.
      visibility: of the generated library.
    """
    pkg = native.package_name()
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]

    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [dep + "_protos" for dep in deps],
        visibility = visibility,
    )

    grpc_flags = ""
    if grpc:
        grpc_flags = "--grpc_out=$(GENDIR)/api --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin"
    native.genrule(
        name = name + "_gen",
        srcs = [name + "_protos"],
        outs = outs,
        cmd = "/usr/bin/protoc -Iapi -I/usr/include --cpp_out=$(GENDIR)/api %s %s" % (
            grpc_flags,
            " ".join(["%s/%s" % (pkg, src) for src in srcs]),
        ),
    )

    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        strip_include_prefix = "/api",
        deps = deps,
        linkopts = ["-lprotobuf"] + (["-lgrpc++", "-lgrpc", "-lgpr"] if grpc else []),
        # Linked whole, so every message type registers its descriptor: a
        # filter config is found by name when the text parser meets its Any.
        alwayslink = True,
        visibility = visibility,
    )

// wsproxy's command line.
#include <signal.h>

#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <absl/flags/usage.h>

#include <cstdio>
#include <string>
#include <thread>

#include "source/common/log.h"
#include "source/server/server.h"

ABSL_FLAG(std::string, config, "", "Path of the proto-text configuration file (required).");
ABSL_FLAG(bool, validate, false, "Check the configuration, print the result and exit: 0 if valid, 1 if not.");
ABSL_FLAG(int, concurrency, 0, "Worker threads. Default: the number of CPU cores.");
ABSL_FLAG(bool, io_uring, true,
          "Carry connections' reads and writes on an io_uring per worker, where the kernel offers one "
          "(Linux 6.1+); false: epoll for every socket.");
ABSL_FLAG(std::string, log_level, "info", "Lowest level of process log lines: debug, info, warn or error.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("A WebSocket reverse proxy.\nUsage: wsproxy --config FILE [--validate] [--concurrency N]");
  absl::ParseCommandLine(argc, argv);

  wsproxy::server::Options options;
  options.config_path = absl::GetFlag(FLAGS_config);
  if (options.config_path.empty()) {
    std::fprintf(stderr, "wsproxy: --config FILE is required (see --help)\n");
    return 1;
  }
  const std::string level = absl::GetFlag(FLAGS_log_level);
  using wsproxy::log::Level;
  if (level == "debug") wsproxy::log::set_min_level(Level::debug);
  else if (level == "info") wsproxy::log::set_min_level(Level::info);
  else if (level == "warn") wsproxy::log::set_min_level(Level::warn);
  else if (level == "error") wsproxy::log::set_min_level(Level::error);
  else {
    std::fprintf(stderr, "wsproxy: --log_level must be debug, info, warn or error\n");
    return 1;
  }
  int concurrency = absl::GetFlag(FLAGS_concurrency);
  if (concurrency < 0 || concurrency > 256) {
    std::fprintf(stderr, "wsproxy: --concurrency must be between 1 and 256\n");
    return 1;
  }
  options.io_uring = absl::GetFlag(FLAGS_io_uring);
  options.concurrency = concurrency > 0 ? concurrency : std::max(1u, std::thread::hardware_concurrency());

  if (absl::GetFlag(FLAGS_validate)) return wsproxy::server::validate_config_file(options);
  // Writes to a peer that has gone must fail with EPIPE, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  return wsproxy::server::Server(options).run();
}

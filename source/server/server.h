// The wsproxy process: loads the config, starts the workers and listeners,
// and runs until SIGTERM or SIGINT.
#pragma once

#include <cstddef>
#include <string>

namespace wsproxy::server {

struct Options {
  std::string config_path;
  std::size_t concurrency = 1;  // worker threads
};

// Returns the process exit code.
int run(const Options& options);

// Loads and checks the config as run() would, printing the result; returns
// the exit code (0 valid, 1 not).
int validate(const Options& options);

}  // namespace wsproxy::server

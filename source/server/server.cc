// Process lifecycle.
#include "source/server/server.h"

#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <memory>
#include <vector>

#include "source/common/log.h"
#include "source/network/listener.h"
#include "source/proxy/access_log.h"
#include "source/server/snapshot.h"
#include "source/server/worker.h"

namespace wsproxy::server {
namespace {

// Descriptors kept back from connections: listeners, logs, the admin server.
constexpr int64_t kReservedDescriptors = 64;

// Raises the open-file limit to its hard maximum and returns it.
int64_t raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? 1 << 20 : static_cast<int64_t>(limit.rlim_cur);
}

std::shared_ptr<const Snapshot> load(const std::string& path, stats::Store& store) {
  config::ErrorList errors(path);
  std::shared_ptr<const Snapshot> snapshot;
  if (auto loaded = config::load_file(path, errors)) snapshot = build_snapshot(std::move(*loaded), store, errors);
  if (snapshot == nullptr) {
    std::fprintf(stderr, "wsproxy: invalid configuration:\n%s", errors.joined().c_str());
  }
  return snapshot;
}

}  // namespace

int validate(const Options& options) {
  stats::Store store(1);
  auto snapshot = load(options.config_path, store);
  if (snapshot == nullptr) return 1;
  std::printf("wsproxy: configuration %s is valid: %zu listener(s), %zu cluster(s)\n", options.config_path.c_str(),
              snapshot->listeners.size(), snapshot->clusters.size());
  return 0;
}

int run(const Options& options) {
  const std::size_t workers_count = options.concurrency;
  stats::Store store(workers_count + 1);
  auto snapshot = load(options.config_path, store);
  if (snapshot == nullptr) return 1;

  std::string error;
  auto access_log = proxy::AccessLog::open(snapshot->access_log_path, store, error);
  if (access_log == nullptr) {
    std::fprintf(stderr, "wsproxy: %s\n", error.c_str());
    return 1;
  }
  proxy::ProcessLimits limits(store);
  int64_t open_files = raise_open_file_limit();
  // Two descriptors per relayed connection (client and upstream).
  int64_t fitting = std::max<int64_t>(1, (open_files - kReservedDescriptors) / 2);
  limits.max_connections = snapshot->max_connections ? *snapshot->max_connections : fitting;
  if (limits.max_connections > fitting) {
    log::warn("limits.max_connections " + std::to_string(limits.max_connections.load()) + " is more than the " +
              std::to_string(fitting) + " connections the open-file limit (" + std::to_string(open_files) +
              ") allows; accepts will fail past that");
  }

  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<boost::asio::io_context*> contexts;
  for (std::size_t i = 0; i < workers_count; ++i) {
    workers.push_back(std::make_unique<Worker>(i + 1, *access_log, limits));
    contexts.push_back(&workers.back()->io());
  }
  for (const auto& listener : snapshot->listeners) {
    auto acceptors = network::bind_reuseport(contexts, listener->address, listener->port, error);
    if (acceptors.empty()) {
      std::fprintf(stderr, "wsproxy: listener %s: %s\n", listener->name.c_str(), error.c_str());
      return 1;
    }
    boost::system::error_code ec;
    auto bound = acceptors.front().local_endpoint(ec);
    for (std::size_t i = 0; i < workers.size(); ++i) workers[i]->add_listener(listener, std::move(acceptors[i]));
    log::info("listener \"" + listener->name + "\" listening on " + bound.address().to_string() + ":" +
              std::to_string(bound.port()) + " (" + (listener->tls ? "wss" : "ws") + ", " +
              std::to_string(workers.size()) + " workers)");
  }

  boost::asio::io_context main_io(1);
  boost::asio::signal_set signals(main_io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    std::string reason = signal == SIGTERM ? "SIGTERM" : "SIGINT";
    log::info("received " + reason + ": closing listeners and connections");
    for (auto& worker : workers) worker->shutdown("shutdown (" + reason + ")");
  });
  for (auto& worker : workers) worker->start();
  log::info("wsproxy started: " + std::to_string(snapshot->listeners.size()) + " listener(s), " +
            std::to_string(snapshot->clusters.size()) + " cluster(s), " + std::to_string(workers.size()) +
            " worker(s), at most " + std::to_string(limits.max_connections.load()) + " connections");
  main_io.run();  // returns once the signal handler has run
  for (auto& worker : workers) worker->join();
  log::info("wsproxy stopped");
  return 0;
}

}  // namespace wsproxy::server

// The wsproxy process: loads the config, runs the workers and listeners,
// serves the admin API, reloads on request (SIGHUP or the admin API) and
// drains on SIGTERM or the admin API.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "source/admin/backend.h"
#include "source/proxy/access_log.h"
#include "source/proxy/worker_context.h"
#include "source/server/snapshot.h"
#include "source/server/worker.h"
#include "source/stats/stats.h"

namespace wsproxy::admin {
class AdminServer;
class MetricsServer;
}  // namespace wsproxy::admin

namespace wsproxy::server {

struct Options {
  std::string config_path;
  std::size_t concurrency = 1;  // worker threads
  bool io_uring = true;         // connections' sockets on an io_uring where the kernel allows
};

// Loads and checks the config as the server would, printing the result;
// returns the exit code (0 valid, 1 not).
int validate_config_file(const Options& options);

class Server : public admin::Backend {
 public:
  explicit Server(Options options);
  ~Server() override;

  // Runs until drained; returns the process exit code.
  int run();

  admin::ServerInfo server_info() const override;
  const stats::Store& stats() const override { return store_; }
  admin::ConfigDump config() const override;
  admin::ValidateResult validate(const admin::ConfigSource& source) override;
  admin::ReloadResult reload(const admin::ConfigSource& source) override;
  std::vector<proxy::ConnectionDetails> connections(const std::string& listener) override;
  bool close_connection(uint64_t id, uint16_t code, const std::string& reason) override;
  uint64_t drain(std::optional<std::chrono::milliseconds> grace_period) override;

 private:
  // A listener's sockets: one per worker, all named by `slot`.
  struct Binding {
    uint64_t slot;
    std::shared_ptr<const proxy::ListenerConfig> config;
    const config::v1::Listener* proto;  // in the snapshot that bound it or last updated it
  };

  std::shared_ptr<const Snapshot> load(const admin::ConfigSource& source, uint64_t version, std::string& errors);
  std::shared_ptr<const Snapshot> current() const;
  // Handles the next SIGINT, SIGTERM or SIGHUP, then waits again.
  void wait_for_signals();
  // On the main thread: sends 1001 at `go_away`, stops once no connection
  // is left or at `deadline`.
  void watch_drain(std::chrono::steady_clock::time_point go_away, std::chrono::steady_clock::time_point deadline);
  void stop();

  const Options options_;
  const std::chrono::steady_clock::time_point started_;
  stats::Store store_;
  proxy::ProcessLimits limits_;
  std::unique_ptr<proxy::AccessLog> access_log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  boost::asio::io_context main_io_{1};
  boost::asio::signal_set signals_{main_io_};  // SIGINT, SIGTERM, SIGHUP once running
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<admin::MetricsServer> metrics_;

  std::mutex control_mutex_;  // one reload, drain or close at a time
  mutable std::mutex state_mutex_;  // guards snapshot_ for readers
  std::shared_ptr<const Snapshot> snapshot_;
  std::map<std::string, Binding> bindings_;  // by listener name
  uint64_t next_slot_ = 1;
  std::atomic<bool> draining_{false};
  bool sent_going_away_ = false;  // main thread only
};

}  // namespace wsproxy::server

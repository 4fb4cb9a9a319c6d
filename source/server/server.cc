// Process lifecycle: start, reload, drain.
#include "source/server/server.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <set>

#include "source/admin/admin_server.h"
#include "source/admin/metrics_server.h"
#include "source/common/log.h"
#include "source/common/version.h"
#include "source/config/redact.h"
#include "source/network/listener.h"

namespace wsproxy::server {
namespace {

using std::chrono::milliseconds;
using google::protobuf::util::MessageDifferencer;

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

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "-" : out;
}

bool same_address(const config::v1::Listener& a, const config::v1::Listener& b) {
  return a.address().address() == b.address().address() && a.address().port() == b.address().port();
}

}  // namespace

int validate_config_file(const Options& options) {
  stats::Store store(1);
  config::ErrorList errors(options.config_path);
  std::shared_ptr<const Snapshot> snapshot;
  if (auto loaded = config::load_file(options.config_path, errors)) {
    snapshot = build_snapshot(std::move(*loaded), 1, store, errors);
  }
  if (snapshot == nullptr) {
    std::fprintf(stderr, "wsproxy: invalid configuration:\n%s", errors.joined().c_str());
    return 1;
  }
  std::printf("wsproxy: configuration %s is valid: %zu listener(s), %zu cluster(s)\n", options.config_path.c_str(),
              snapshot->listeners.size(), snapshot->clusters.size());
  return 0;
}

Server::Server(Options options)
    : options_(std::move(options)),
      started_(std::chrono::steady_clock::now()),
      store_(options_.concurrency + 1),
      limits_(store_) {}

Server::~Server() = default;

std::shared_ptr<const Snapshot> Server::load(const admin::ConfigSource& source, uint64_t version,
                                             std::string& errors_text) {
  std::string name = source.text ? "inline" : source.path ? *source.path : options_.config_path;
  config::ErrorList errors(name);
  std::optional<config::LoadedConfig> loaded;
  if (source.text) {
    // Relative paths in inline text are resolved as in the startup file.
    loaded = config::load_text(*source.text, name, directory_of(options_.config_path), errors);
  } else {
    loaded = config::load_file(name, errors);
  }
  std::shared_ptr<const Snapshot> snapshot;
  if (loaded) snapshot = build_snapshot(std::move(*loaded), version, store_, errors);
  if (snapshot == nullptr) errors_text = errors.joined();
  return snapshot;
}

std::shared_ptr<const Snapshot> Server::current() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return snapshot_;
}

int Server::run() {
  std::string errors;
  auto snapshot = load({}, 1, errors);
  if (snapshot == nullptr) {
    std::fprintf(stderr, "wsproxy: invalid configuration:\n%s", errors.c_str());
    return 1;
  }
  std::string error;
  access_log_ = proxy::AccessLog::open(snapshot->access_log_path, snapshot->access_log_disabled, store_, error);
  if (access_log_ == nullptr) {
    std::fprintf(stderr, "wsproxy: %s\n", error.c_str());
    return 1;
  }
  int64_t open_files = raise_open_file_limit();
  // Two descriptors per relayed connection (client and upstream).
  int64_t fitting = std::max<int64_t>(1, (open_files - kReservedDescriptors) / 2);
  limits_.max_connections = snapshot->max_connections ? *snapshot->max_connections : fitting;
  if (limits_.max_connections > fitting) {
    log::warn("limits.max_connections " + std::to_string(limits_.max_connections.load()) + " is more than the " +
              std::to_string(fitting) + " connections the open-file limit (" + std::to_string(open_files) +
              ") allows; accepts will fail past that");
  }

  stats::Counter& bytes_dropped_at_close = store_.counter("server.bytes_dropped_at_close");
  for (std::size_t i = 0; i < options_.concurrency; ++i) {
    workers_.push_back(
        std::make_unique<Worker>(i + 1, options_.io_uring, *access_log_, limits_, bytes_dropped_at_close));
  }
  const auto& protos = snapshot->config.bootstrap.listeners();
  for (std::size_t l = 0; l < snapshot->listeners.size(); ++l) {
    const auto& listener = snapshot->listeners[l];
    auto fds = network::bind_reuseport(workers_.size(), listener->address, listener->port, error);
    if (fds.empty()) {
      std::fprintf(stderr, "wsproxy: listener %s: %s\n", listener->name.c_str(), error.c_str());
      return 1;
    }
    uint16_t port = network::bound_port(fds.front());
    uint64_t slot = next_slot_++;
    for (std::size_t i = 0; i < workers_.size(); ++i) workers_[i]->add_listener(slot, listener, fds[i]);
    bindings_[listener->name] = {slot, listener, &protos[static_cast<int>(l)]};
    log::info("listener \"" + listener->name + "\" listening on " + listener->address + ":" + std::to_string(port) +
              " (" + (listener->tls ? "wss" : "ws") + ", " + std::to_string(workers_.size()) + " workers)");
  }
  snapshot_ = snapshot;

  admin_ = admin::AdminServer::start(snapshot->config, *this, error);
  if (admin_ == nullptr) {
    std::fprintf(stderr, "wsproxy: admin: %s\n", error.c_str());
    return 1;
  }
  if (snapshot->config.bootstrap.admin().has_http_address()) {
    metrics_ = admin::MetricsServer::start(main_io_, snapshot->config.bootstrap.admin().http_address(), *this, error);
    if (metrics_ == nullptr) {
      std::fprintf(stderr, "wsproxy: admin.http_address: %s\n", error.c_str());
      return 1;
    }
  }

  for (int signal : {SIGINT, SIGTERM, SIGHUP}) signals_.add(signal);
  wait_for_signals();
  for (auto& worker : workers_) worker->start();
  log::info("wsproxy " + std::string(kVersion) + " started: " + std::to_string(snapshot->listeners.size()) +
            " listener(s), " + std::to_string(snapshot->clusters.size()) + " cluster(s), " +
            std::to_string(workers_.size()) + " worker(s), at most " + std::to_string(limits_.max_connections.load()) +
            " connections, config version 1, sockets on " +
            (workers_.front()->uses_io_uring() ? "io_uring" : "epoll"));
  if (options_.io_uring && !workers_.front()->uses_io_uring()) {
    log::warn("io_uring is not available here (it needs Linux 6.1+; kernel.io_uring_disabled or seccomp can "
              "refuse it): sockets use epoll");
  }
  auto guard = boost::asio::make_work_guard(main_io_);
  main_io_.run();
  log::info("wsproxy stopped");
  return 0;
}

void Server::wait_for_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      log::info("received SIGHUP: reloading " + options_.config_path);
      admin::ReloadResult result = reload({});
      if (!result.errors.empty()) log::error("reload refused; the running config is unchanged:\n" + result.errors);
    } else if (draining_) {
      log::warn(std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
                " again: closing every connection now");
      for (auto& worker : workers_) worker->run_sync([&] { worker->terminate_all("shutdown"); });
    } else {
      log::info(std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") + ": draining");
      drain(std::nullopt);
    }
    wait_for_signals();
  });
}

admin::ServerInfo Server::server_info() const {
  auto snapshot = current();
  admin::ServerInfo info;
  info.version = kVersion;
  info.build = kBuild;
  info.uptime = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started_);
  info.workers = static_cast<uint32_t>(options_.concurrency);
  info.draining = draining_;
  info.config_version = snapshot->version;
  info.config_source = snapshot->config.source;
  return info;
}

admin::ConfigDump Server::config() const {
  auto snapshot = current();
  config::v1::Bootstrap redacted = snapshot->config.bootstrap;
  config::redact_sensitive(redacted);
  admin::ConfigDump dump;
  google::protobuf::TextFormat::Printer printer;
  printer.SetExpandAny(true);
  printer.PrintToString(redacted, &dump.text);
  dump.version = snapshot->version;
  dump.sha256 = snapshot->sha256;
  dump.source = snapshot->config.source;
  return dump;
}

admin::ValidateResult Server::validate(const admin::ConfigSource& source) {
  admin::ValidateResult result;
  // A scratch store: validating must not create stats for what never runs.
  stats::Store scratch(1);
  std::string name = source.text ? "inline" : source.path ? *source.path : options_.config_path;
  config::ErrorList errors(name);
  std::optional<config::LoadedConfig> loaded =
      source.text ? config::load_text(*source.text, name, directory_of(options_.config_path), errors)
                  : config::load_file(name, errors);
  std::shared_ptr<const Snapshot> snapshot;
  if (loaded) snapshot = build_snapshot(std::move(*loaded), 0, scratch, errors);
  if (snapshot == nullptr) {
    result.errors = errors.joined();
    return result;
  }
  result.listeners = static_cast<uint32_t>(snapshot->listeners.size());
  result.clusters = static_cast<uint32_t>(snapshot->clusters.size());
  return result;
}

admin::ReloadResult Server::reload(const admin::ConfigSource& source) {
  std::lock_guard<std::mutex> control(control_mutex_);
  admin::ReloadResult result;
  if (draining_) {
    result.errors = "the server is draining; nothing can be reloaded\n";
    return result;
  }
  auto old = current();
  auto next = load(source, old->version + 1, result.errors);
  if (next == nullptr) return result;
  const auto& old_bootstrap = old->config.bootstrap;
  const auto& new_bootstrap = next->config.bootstrap;
  if (!MessageDifferencer::Equals(old_bootstrap.admin(), new_bootstrap.admin())) {
    result.errors = next->config.source + ": admin: the admin settings cannot change on reload; restart to change them\n";
    return result;
  }
  if (next->access_log_path != old->access_log_path || next->access_log_disabled != old->access_log_disabled) {
    result.errors = next->config.source + ": access_log: cannot change on reload; restart to change it\n";
    return result;
  }

  // Diff listeners by name; bind every new address before changing anything.
  struct Planned {
    std::shared_ptr<const proxy::ListenerConfig> config;
    const config::v1::Listener* proto;
    const Binding* old;  // null: added
    bool rebind;
    std::vector<int> fds;
    uint16_t bound_port;
  };
  std::vector<Planned> plan;
  // Sockets bound for this reload, closed if it is refused after all.
  struct CloseUnless {
    std::vector<Planned>& plan;
    bool applied = false;
    ~CloseUnless() {
      for (auto& p : plan) {
        for (int fd : p.fds) {
          if (!applied) ::close(fd);
        }
      }
    }
  } unbound{plan};
  std::set<std::string> kept;
  for (std::size_t l = 0; l < next->listeners.size(); ++l) {
    const auto& listener = next->listeners[l];
    const auto* proto = &new_bootstrap.listeners(static_cast<int>(l));
    auto it = bindings_.find(listener->name);
    const Binding* old_binding = it == bindings_.end() ? nullptr : &it->second;
    Planned p{listener, proto, old_binding, old_binding == nullptr || !same_address(*old_binding->proto, *proto), {}, 0};
    if (p.rebind) {
      std::string error;
      p.fds = network::bind_reuseport(workers_.size(), listener->address, listener->port, error);
      if (p.fds.empty()) {
        result.errors = next->config.source + ": listeners[\"" + listener->name + "\"].address: " + error + "\n";
        return result;
      }
      p.bound_port = network::bound_port(p.fds.front());
    }
    if (old_binding != nullptr) kept.insert(listener->name);
    plan.push_back(std::move(p));
  }

  // Apply: nothing below can fail.
  unbound.applied = true;
  auto drain_period = next->reload_drain_period;
  std::map<std::string, Binding> bindings;
  for (auto& p : plan) {
    const std::string& name = p.config->name;
    if (p.old == nullptr) {
      result.added.push_back(name);
    } else if (p.rebind || !MessageDifferencer::Equals(*p.old->proto, *p.proto)) {
      result.changed.push_back(name);
    } else {
      result.unchanged.push_back(name);
    }
    uint64_t slot = p.rebind ? next_slot_++ : p.old->slot;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->run_sync([&, i] {
        if (p.rebind) {
          if (p.old != nullptr) workers_[i]->remove_listener(p.old->slot, drain_period);
          workers_[i]->add_listener(slot, p.config, p.fds[i]);
        } else {
          workers_[i]->update_listener(slot, p.config);
        }
      });
    }
    if (p.rebind) {
      log::info("listener \"" + name + "\" listening on " + p.config->address + ":" + std::to_string(p.bound_port) +
                " (" + (p.config->tls ? "wss" : "ws") + ", " + std::to_string(workers_.size()) + " workers)");
    }
    bindings[name] = {slot, p.config, p.proto};
  }
  for (const auto& [name, binding] : bindings_) {
    if (kept.count(name)) continue;
    result.removed.push_back(name);
    uint64_t slot = binding.slot;  // (a structured binding cannot be captured in C++17)
    for (auto& worker : workers_) worker->run_sync([&] { worker->remove_listener(slot, drain_period); });
  }
  limits_.max_connections = next->max_connections ? static_cast<int64_t>(*next->max_connections)
                                                  : limits_.max_connections.load();
  bindings_ = std::move(bindings);
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    snapshot_ = next;
  }
  result.version = next->version;
  result.sha256 = next->sha256;
  log::info("config version " + std::to_string(next->version) + " applied from " + next->config.source +
            ": added " + join(result.added) + "; removed " + join(result.removed) + "; changed " +
            join(result.changed) + "; unchanged " + join(result.unchanged));
  return result;
}

std::vector<proxy::ConnectionDetails> Server::connections(const std::string& listener) {
  std::vector<proxy::ConnectionDetails> out;
  for (auto& worker : workers_) {
    std::vector<proxy::ConnectionDetails> part;
    worker->run_sync([&] { part = worker->connections(listener); });
    out.insert(out.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return out;
}

bool Server::close_connection(uint64_t id, uint16_t code, const std::string& reason) {
  bool found = false;
  for (auto& worker : workers_) {
    worker->run_sync([&] { found = worker->close_connection(id, code, reason) || found; });
  }
  return found;
}

uint64_t Server::drain(std::optional<milliseconds> grace_period) {
  std::lock_guard<std::mutex> control(control_mutex_);
  uint64_t open = 0;
  for (auto& worker : workers_) worker->run_sync([&] { open += worker->connection_count(); });
  if (draining_.exchange(true)) return open;
  auto snapshot = current();
  milliseconds grace = grace_period.value_or(snapshot->shutdown_grace_period);
  for (auto& worker : workers_) worker->run_sync([&] { worker->stop_accepting(); });
  log::info("draining: accepting no more connections; " + std::to_string(open) +
            " open connection(s) are sent 1001 in " + std::to_string(grace.count()) + " ms");
  auto now = std::chrono::steady_clock::now();
  boost::asio::post(main_io_, [this, go_away = now + grace, deadline = now + grace + snapshot->shutdown_timeout] {
    watch_drain(go_away, deadline);
  });
  return open;
}

void Server::watch_drain(std::chrono::steady_clock::time_point go_away, std::chrono::steady_clock::time_point deadline) {
  std::size_t open = 0;
  for (auto& worker : workers_) worker->run_sync([&] { open += worker->connection_count(); });
  auto now = std::chrono::steady_clock::now();
  if (open == 0) return stop();
  if (now >= deadline) {
    log::warn("drain timeout: closing the " + std::to_string(open) + " connection(s) still open");
    for (auto& worker : workers_) worker->run_sync([&] { worker->terminate_all("shutdown timeout"); });
    return stop();
  }
  if (now >= go_away && !sent_going_away_) {
    sent_going_away_ = true;
    for (auto& worker : workers_) worker->run_sync([&] { worker->close_all(1001, "going away"); });
  }
  // Checked every 50 ms: the drain ends as soon as the last connection does.
  auto timer = std::make_shared<boost::asio::steady_timer>(main_io_, milliseconds(50));
  timer->async_wait([this, timer, go_away, deadline](const boost::system::error_code&) { watch_drain(go_away, deadline); });
}

void Server::stop() {
  if (admin_) admin_->shutdown();
  metrics_.reset();
  for (auto& worker : workers_) worker->finish();
  for (auto& worker : workers_) worker->join();
  main_io_.stop();
}

}  // namespace wsproxy::server

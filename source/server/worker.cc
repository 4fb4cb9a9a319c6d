// Worker threads.
#include "source/server/worker.h"

#include <cstring>
#include <future>
#include <random>

#include "source/common/log.h"
#include "source/proxy/connection.h"

namespace wsproxy::server {

Worker::Worker(std::size_t index, bool io_uring, proxy::AccessLog& access_log, proxy::ProcessLimits& limits,
               stats::Counter& bytes_dropped_at_close)
    : index_(index),
      loop_(std::make_unique<network::EventLoop>(io_uring)),
      context_(*loop_, access_log, limits) {
  loop_->count_bytes_dropped_at_close(bytes_dropped_at_close);
}

Worker::~Worker() {
  join();
  listeners_.clear();
  loop_.reset();
}

void Worker::start() {
  running_ = true;
  thread_ = std::thread([this] {
    stats::set_thread_shard(index_);
    loop_->run();
    running_ = false;
  });
}

void Worker::run_sync(const std::function<void()>& task) {
  if (!running_ || std::this_thread::get_id() == thread_.get_id()) return task();
  std::promise<void> done;
  bool queued = loop_->post_from_any_thread([&] {
    task();
    done.set_value();
  });
  // The loop ended after running_ was read: its thread touches nothing of
  // the worker any more, so the task can run here.
  if (!queued) return task();
  done.get_future().wait();
}

void Worker::finish() { loop_->finish(); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::add_listener(uint64_t slot, std::shared_ptr<const proxy::ListenerConfig> config, int fd) {
  listeners_.push_back({slot, std::move(config), nullptr});
  ActiveListener& active = listeners_.back();
  active.loop = std::make_shared<network::AcceptLoop>(
      context_.loop, fd,
      [this, &active](int connection, const sockaddr_storage& peer) {
        std::make_shared<proxy::ProxyConnection>(context_, active.config, active.slot, connection, peer)->start();
      },
      [&active](int error, uint64_t failures_in_a_row) {
        active.config->stats->cx_accept_error.inc();
        // One line when a streak starts, then one a minute at most.
        if (failures_in_a_row % 60 == 1) {
          log::error("listener " + active.config->name + ": cannot accept: " + std::strerror(error) +
                     "; backing off (" + std::to_string(failures_in_a_row) + " in a row, counted in " +
                     "downstream_cx_accept_error)");
        }
      },
      [&active](uint64_t failures) {
        log::info("listener " + active.config->name + ": accepting again after " + std::to_string(failures) +
                  " failed attempt(s)");
      });
  active.loop->start();
}

void Worker::update_listener(uint64_t slot, std::shared_ptr<const proxy::ListenerConfig> config) {
  for (auto& listener : listeners_) {
    if (listener.slot == slot) listener.config = config;
  }
}

void Worker::remove_listener(uint64_t slot, std::chrono::milliseconds drain_period) {
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (it->slot == slot) {
      it->loop->stop();
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  // Spread the closes over the period so clients do not all come back at once.
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_int_distribution<int64_t> spread(0, std::max<int64_t>(0, drain_period.count()));
  auto now = std::chrono::steady_clock::now();
  for (auto& connection : snapshot_connections()) {
    if (connection->listener_slot() == slot) connection->drain_at(now + std::chrono::milliseconds(spread(random)));
  }
}

void Worker::stop_accepting() {
  for (auto& listener : listeners_) listener.loop->stop();
  listeners_.clear();
}

std::vector<std::shared_ptr<proxy::TrackedConnection>> Worker::snapshot_connections() const {
  std::vector<std::shared_ptr<proxy::TrackedConnection>> out;
  for (auto& c : const_cast<proxy::ConnectionList&>(context_.connections)) out.push_back(c.shared());
  return out;
}

std::size_t Worker::connection_count() const {
  std::size_t n = 0;
  for (auto it = context_.connections.begin(); it != context_.connections.end(); ++it) ++n;
  return n;
}

std::vector<proxy::ConnectionDetails> Worker::connections(const std::string& listener) const {
  std::vector<proxy::ConnectionDetails> out;
  for (const auto& c : context_.connections) {
    auto details = c.details();
    if (listener.empty() || details.listener == listener) out.push_back(std::move(details));
  }
  return out;
}

bool Worker::close_connection(uint64_t id, uint16_t code, const std::string& reason) {
  for (auto& connection : snapshot_connections()) {
    if (connection->id() == id) {
      connection->close_with(code, reason);
      return true;
    }
  }
  return false;
}

void Worker::close_all(uint16_t code, const std::string& reason) {
  for (auto& connection : snapshot_connections()) connection->close_with(code, reason);
}

void Worker::terminate_all(const std::string& reason) {
  for (auto& connection : snapshot_connections()) connection->terminate(reason);
}

}  // namespace wsproxy::server

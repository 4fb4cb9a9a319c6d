// A worker thread: its own event loop, its accepting sockets (one per
// listener) and the connections accepted on them. Nothing here is shared
// with other workers, so the data path takes no locks. The main thread and
// the admin API act on a worker only through run_sync().
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "source/network/event_loop.h"
#include "source/network/listener.h"
#include "source/proxy/listener_config.h"
#include "source/proxy/worker_context.h"

namespace wsproxy::server {

class Worker {
 public:
  // `index` starts at 1 (0 is the main thread's stats shard). `io_uring`
  // and `bytes_dropped_at_close`: see EventLoop.
  Worker(std::size_t index, bool io_uring, proxy::AccessLog& access_log, proxy::ProcessLimits& limits,
         stats::Counter& bytes_dropped_at_close);
  ~Worker();

  // Runs the thread.
  void start();
  // Connections' sockets go through an io_uring (else epoll).
  bool uses_io_uring() const { return loop_->ring() != nullptr; }
  // Runs `task` on the worker's thread and waits for it. Before start(),
  // or after the thread has ended, runs it on the caller's thread.
  void run_sync(const std::function<void()>& task);
  // Lets the thread end once its connections have; join() waits for it.
  void finish();
  void join();

  // The rest runs on the worker's thread (through run_sync, or before start).

  // Accepts on the listening socket `fd` (owned from now on) for
  // `config`; `slot` names this socket in later calls (the same slot on
  // every worker).
  void add_listener(uint64_t slot, std::shared_ptr<const proxy::ListenerConfig> config, int fd);
  // New connections on `slot` get `config`; open ones keep theirs.
  void update_listener(uint64_t slot, std::shared_ptr<const proxy::ListenerConfig> config);
  // Stops accepting on `slot`; its connections are sent 1001 at random
  // moments within `drain_period`.
  void remove_listener(uint64_t slot, std::chrono::milliseconds drain_period);
  void stop_accepting();
  std::size_t connection_count() const;
  std::vector<proxy::ConnectionDetails> connections(const std::string& listener) const;
  // True if the connection is on this worker.
  bool close_connection(uint64_t id, uint16_t code, const std::string& reason);
  // Every connection: a close frame, or ended now when not yet relaying.
  void close_all(uint16_t code, const std::string& reason);
  void terminate_all(const std::string& reason);

 private:
  struct ActiveListener {
    uint64_t slot;
    std::shared_ptr<const proxy::ListenerConfig> config;
    std::shared_ptr<network::AcceptLoop> loop;
  };
  // The live connections, held alive while the callback runs.
  std::vector<std::shared_ptr<proxy::TrackedConnection>> snapshot_connections() const;

  const std::size_t index_;
  // Destroyed explicitly before context_: destroying it destroys any
  // task or timer handler still queued, and with it the connection the
  // handler holds, which gives its buffers back to context_.
  std::unique_ptr<network::EventLoop> loop_;
  proxy::WorkerContext context_;
  std::list<ActiveListener> listeners_;
  std::thread thread_;
  std::atomic<bool> running_{false};
};

}  // namespace wsproxy::server

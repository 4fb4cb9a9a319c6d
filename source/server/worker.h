// A worker thread: its own io_context, its accepting sockets (one per
// listener) and the connections accepted on them. Nothing here is shared
// with other workers, so the data path takes no locks.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <list>
#include <memory>
#include <thread>

#include "source/network/listener.h"
#include "source/proxy/listener_config.h"
#include "source/proxy/worker_context.h"

namespace wsproxy::server {

class Worker {
 public:
  // `index` starts at 1 (0 is the main thread's stats shard).
  Worker(std::size_t index, proxy::AccessLog& access_log, proxy::ProcessLimits& limits);
  ~Worker();

  boost::asio::io_context& io() { return *io_; }

  // Runs the thread.
  void start();
  // Accepts on `acceptor` for `listener`; call before start() or through
  // the worker's io_context.
  void add_listener(std::shared_ptr<const proxy::ListenerConfig> listener, boost::asio::ip::tcp::acceptor acceptor);
  // Asks the worker to stop accepting, end its connections and let its
  // thread finish; join() waits for that.
  void shutdown(std::string reason);
  void join();

 private:
  struct ActiveListener {
    std::shared_ptr<const proxy::ListenerConfig> config;
    std::shared_ptr<network::AcceptLoop> loop;
  };

  const std::size_t index_;
  // Destroyed explicitly before context_: destroying it destroys any
  // handler still queued, and with it the connection the handler holds,
  // which gives its buffers back to context_.
  std::unique_ptr<boost::asio::io_context> io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  proxy::WorkerContext context_;
  std::list<ActiveListener> listeners_;
  std::thread thread_;
};

}  // namespace wsproxy::server

// Worker threads.
#include "source/server/worker.h"

#include <boost/asio/post.hpp>

#include "source/common/log.h"
#include "source/proxy/connection.h"

namespace wsproxy::server {

Worker::Worker(std::size_t index, proxy::AccessLog& access_log, proxy::ProcessLimits& limits)
    : index_(index),
      io_(std::make_unique<boost::asio::io_context>(1)),
      work_(io_->get_executor()),
      context_(*io_, access_log, limits) {}

Worker::~Worker() {
  join();
  listeners_.clear();
  work_.reset();
  io_.reset();
}

void Worker::start() {
  thread_ = std::thread([this] {
    stats::set_thread_shard(index_);
    io_->run();
  });
}

void Worker::add_listener(std::shared_ptr<const proxy::ListenerConfig> config, boost::asio::ip::tcp::acceptor acceptor) {
  listeners_.push_back({std::move(config), nullptr});
  ActiveListener& active = listeners_.back();
  active.loop = std::make_shared<network::AcceptLoop>(
      std::move(acceptor),
      [this, &active](boost::asio::ip::tcp::socket socket) {
        std::make_shared<proxy::ProxyConnection>(context_, active.config, std::move(socket))->start();
      },
      [&active](const boost::system::error_code& ec) {
        active.config->stats->cx_accept_error.inc();
        log::error("listener " + active.config->name + ": accept failed: " + ec.message() + "; retrying");
      });
  active.loop->start();
}

void Worker::shutdown(std::string reason) {
  boost::asio::post(*io_, [this, reason = std::move(reason)] {
    for (auto& listener : listeners_) listener.loop->stop();
    // terminate() unlinks each connection, so take them from the front.
    while (!context_.connections.empty()) context_.connections.front().terminate(reason);
    work_.reset();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace wsproxy::server

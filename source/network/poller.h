// A worker's own epoll set for its connections' sockets. Each socket joins
// once, edge-triggered for reading and writing, so waiting for readiness
// costs no system call (Asio's async_wait re-arms with epoll_ctl on every
// wait). The set's descriptor is watched through the worker's io_context,
// so timers, posts and the rest of the worker stay on Asio.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace wsproxy::network {

class Poller {
 public:
  class Watcher {
   public:
    virtual ~Watcher() = default;
    // `events`: EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP bits.
    virtual void on_ready(uint32_t events) = 0;
  };

  explicit Poller(boost::asio::io_context& io);
  ~Poller();

  // Stops watching for events; needed while the io_context still exists
  // (before a worker destroys it). Later remove() calls do nothing.
  void shutdown();

  boost::asio::io_context& io() { return io_; }
  // Watches `fd` for `watcher`; false (errno set) if epoll refuses it.
  bool add(int fd, Watcher* watcher);
  // For a watcher whose descriptor is being closed (closing takes it out of
  // the set): events for it already fetched are dropped.
  void forget(Watcher* watcher);

 private:
  void arm();
  void dispatch();

  boost::asio::io_context& io_;
  int epoll_fd_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> watch_;
  bool dispatching_ = false;
  std::vector<Watcher*> removed_;  // during a dispatch: skip their events
};

}  // namespace wsproxy::network

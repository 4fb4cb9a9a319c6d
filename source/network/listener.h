// Accepting sockets: one SO_REUSEPORT socket per worker on the same address,
// so the kernel spreads new connections over workers and a connection lives
// on one thread. Accepting runs on the worker's EventLoop (accept4 until the
// queue is empty, no Asio objects per connection). It does not know what a
// connection is: each accepted descriptor goes to a handler the server
// wires in.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "source/network/event_loop.h"

namespace wsproxy::network {

// Opens `count` non-blocking listening sockets on address:port with
// SO_REUSEPORT and TCP_NODELAY (which accepted sockets inherit). Port 0
// lets the kernel pick a port for the first; the others share it. Returns
// their descriptors, or nothing with `error` set.
std::vector<int> bind_reuseport(std::size_t count, const std::string& address, uint16_t port, std::string& error);

// The local port a listening socket is bound to.
uint16_t bound_port(int fd);

// Accepts on one socket until stopped. Lives on its worker's thread: start()
// and stop() must be called there.
class AcceptLoop : public std::enable_shared_from_this<AcceptLoop>, private EventLoop::Watcher {
 public:
  // Called with each accepted (non-blocking) descriptor and its peer.
  using OnAccept = std::function<void(int fd, const sockaddr_storage& peer)>;
  // Called when accept fails for a reason other than an empty queue (for
  // example no free descriptors, errno given), or the event loop refuses
  // the socket; the loop backs off and retries. `failures_in_a_row` is 1
  // for the first failure of a streak.
  using OnError = std::function<void(int error, uint64_t failures_in_a_row)>;
  // Called at the first accept after a streak of failures.
  using OnResumed = std::function<void(uint64_t failures)>;

  AcceptLoop(EventLoop& loop, int fd, OnAccept on_accept, OnError on_error, OnResumed on_resumed);
  ~AcceptLoop() override;

  void start();
  void stop();

 private:
  void on_ready(uint32_t events) override;
  void accept_some();
  // Reports `error` and tries again (start() or accept_some()) after a
  // pause.
  void back_off(int error);

  EventLoop& loop_;
  int fd_;
  Timer backoff_timer_;
  std::chrono::milliseconds backoff_{0};
  bool watched_ = false;  // in the loop's epoll set
  bool backing_off_ = false;
  uint64_t failures_in_a_row_ = 0;
  OnAccept on_accept_;
  OnError on_error_;
  OnResumed on_resumed_;
};

}  // namespace wsproxy::network

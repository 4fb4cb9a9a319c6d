// A worker thread's event loop: one edge-triggered epoll set holds its
// sockets, and the same epoll_wait also sleeps until the next timer and
// wakes for tasks posted from other threads. A wake-up therefore costs one
// system call, as in nginx; waiting for readiness costs none (a socket
// joins the set once, and a wait is a flag check and a stored callback).
// Where the kernel allows, streams' sockets skip epoll and their system
// calls altogether: their reads and writes go through the loop's io_uring
// (IoRing), and while it has operations in flight the loop sleeps in
// io_uring_enter, which also submits them and watches the epoll set (then
// left with listening sockets and the wake-up descriptor).
// Everything but post_from_any_thread() and finish() runs on the loop's
// thread.
#pragma once

#include <boost/system/error_code.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace wsproxy::stats {
class Counter;
}

namespace wsproxy::network {

class Timer;
class IoRing;

// What waits and timers pass to handlers they end early (Asio's
// operation_aborted).
inline boost::system::error_code operation_aborted() { return {ECANCELED, boost::system::system_category()}; }

class EventLoop {
 public:
  class Watcher {
   public:
    virtual ~Watcher() = default;
    // `events`: EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP bits.
    virtual void on_ready(uint32_t events) = 0;
  };
  using Task = std::function<void()>;

  // `io_uring`: carry streams' sockets on an io_uring if the kernel offers
  // one (else, and with false, epoll serves every socket).
  explicit EventLoop(bool io_uring = true);
  // Destroys what is still queued (tasks, timer handlers), which may end
  // the connections they hold; those may still use the loop meanwhile.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Counts in `counter` the bytes that sockets closed with output still
  // pending never got out (their peer took none of them for 10 s, or
  // failed). Only the io_uring keeps such output: on epoll it is in the
  // kernel's socket buffer when the socket closes.
  void count_bytes_dropped_at_close(stats::Counter& counter);

  // Watches `fd` for `watcher`; false (errno set) if epoll refuses it.
  bool add(int fd, Watcher* watcher);
  // For a watcher whose descriptor is being closed (closing takes it out of
  // the set): events for it already fetched are dropped.
  void forget(Watcher* watcher);

  // Null when streams use epoll.
  IoRing* ring() const { return ring_.get(); }

  // When this round's wait ended: a clock read per round, not per use, for
  // stamps that may lag by one round's work (activity times).
  std::chrono::steady_clock::time_point now() const { return now_; }

  // Runs `task` after the handler now running returns, in posting order.
  void post(Task task);
  // The same from any thread; wakes the loop. False, and `task` is
  // dropped unrun, once run() has returned: nothing will run it.
  [[nodiscard]] bool post_from_any_thread(Task task);

  // Runs until finish() has been called and nothing is left to run: no
  // tasks and no armed timers.
  void run();
  // Any thread.
  void finish();

 private:
  friend class Timer;
  using Deadlines = std::multimap<std::chrono::steady_clock::time_point, Timer*>;

  void run_tasks();
  void run_due_timers();
  void take_remote_tasks();
  // Milliseconds epoll_wait may sleep: 0 with tasks queued, until the next
  // timer, or for ever.
  int wait_timeout() const;
  void wake();

  int epoll_fd_;
  int wake_fd_;  // eventfd: remote tasks and finish()
  std::unique_ptr<IoRing> ring_;
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::now();
  bool dispatching_ = false;
  std::vector<Watcher*> removed_;  // during a dispatch: skip their events
  std::deque<Task> tasks_;
  Deadlines deadlines_;
  std::mutex remote_mutex_;
  std::vector<Task> remote_tasks_;
  bool closed_ = false;  // under remote_mutex_: run() has returned
  std::atomic<bool> finishing_{false};
};

// A one-shot timer on an EventLoop, shaped like Asio's steady_timer.
class Timer {
 public:
  using Handler = std::function<void(const boost::system::error_code&)>;

  explicit Timer(EventLoop& loop) : loop_(loop) {}
  // Drops a pending handler without calling it.
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Sets the deadline; a pending wait is cancelled.
  void expires_after(std::chrono::steady_clock::duration after);
  // Calls `handler` with no error at the deadline, or with
  // operation_aborted (from the loop, later) if cancelled first.
  void async_wait(Handler handler);
  void cancel();

 private:
  friend class EventLoop;

  EventLoop& loop_;
  std::chrono::steady_clock::time_point deadline_{};
  Handler handler_;
  bool armed_ = false;
  EventLoop::Deadlines::iterator position_;
};

}  // namespace wsproxy::network

// The worker's event loop.
#include "source/network/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "source/network/io_ring.h"

namespace wsproxy::network {
namespace {

constexpr int kBatch = 256;

int checked(int fd, const char* what) {
  if (fd < 0) {
    std::fprintf(stderr, "wsproxy: %s: %s\n", what, std::strerror(errno));
    std::abort();
  }
  return fd;
}

}  // namespace

EventLoop::EventLoop(bool io_uring)
    : epoll_fd_(checked(epoll_create1(EPOLL_CLOEXEC), "epoll_create1")),
      wake_fd_(checked(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd")),
      ring_(io_uring ? IoRing::create() : nullptr) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLET;
  event.data.ptr = nullptr;  // no watcher: the wake-up descriptor
  checked(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event), "epoll_ctl");
}

void EventLoop::count_bytes_dropped_at_close(stats::Counter& counter) {
  if (ring_) ring_->count_bytes_dropped_at_close(counter);
}

EventLoop::~EventLoop() {
  // What the queued work holds may in turn post tasks or arm and cancel
  // timers as it is destroyed: repeat until nothing is left.
  while (!tasks_.empty() || !deadlines_.empty() || !remote_tasks_.empty()) {
    std::deque<Task> tasks;
    tasks.swap(tasks_);
    std::vector<Timer::Handler> handlers;
    for (auto& [at, timer] : deadlines_) {
      timer->armed_ = false;
      handlers.push_back(std::move(timer->handler_));
      timer->handler_ = nullptr;
    }
    deadlines_.clear();
    {
      std::lock_guard<std::mutex> lock(remote_mutex_);
      for (Task& task : remote_tasks_) tasks.push_back(std::move(task));
      remote_tasks_.clear();
    }
  }
  ring_.reset();
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

bool EventLoop::add(int fd, Watcher* watcher) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = watcher;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) == 0;
}

void EventLoop::forget(Watcher* watcher) {
  if (dispatching_) removed_.push_back(watcher);
}

void EventLoop::post(Task task) { tasks_.push_back(std::move(task)); }

bool EventLoop::post_from_any_thread(Task task) {
  {
    std::lock_guard<std::mutex> lock(remote_mutex_);
    if (closed_) return false;
    remote_tasks_.push_back(std::move(task));
  }
  wake();
  return true;
}

void EventLoop::finish() {
  finishing_ = true;
  wake();
}

void EventLoop::wake() {
  uint64_t one = 1;
  // Fails only if the counter is saturated, and then a wake-up is pending.
  [[maybe_unused]] ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
}

void EventLoop::run() {
  epoll_event events[kBatch];
  if (ring_) ring_->start();
  for (;;) {
    run_tasks();
    if (finishing_ && tasks_.empty() && deadlines_.empty()) {
      take_remote_tasks();
      if (!tasks_.empty()) continue;
      // Checked again under the lock that posts take, so no task can slip
      // in between the last check and the return.
      std::lock_guard<std::mutex> lock(remote_mutex_);
      if (!remote_tasks_.empty()) continue;
      closed_ = true;
      if (ring_) ring_->stop();
      return;
    }
    int count = 0;
    if (ring_ && ring_->busy()) {
      // Ring completions are handled in there; the epoll set only looked at
      // when it has something.
      if (ring_->run_once(epoll_fd_, wait_timeout())) count = epoll_wait(epoll_fd_, events, kBatch, 0);
    } else {
      count = epoll_wait(epoll_fd_, events, kBatch, wait_timeout());
    }
    if (count < 0 && errno != EINTR) checked(count, "epoll_wait");
    now_ = std::chrono::steady_clock::now();
    dispatching_ = true;
    for (int i = 0; i < count; ++i) {
      auto* watcher = static_cast<Watcher*>(events[i].data.ptr);
      if (watcher == nullptr) {
        take_remote_tasks();
        continue;
      }
      if (!removed_.empty() && std::find(removed_.begin(), removed_.end(), watcher) != removed_.end()) continue;
      watcher->on_ready(events[i].events);
    }
    dispatching_ = false;
    removed_.clear();
    run_due_timers();
  }
}

void EventLoop::run_tasks() {
  // Tasks posted meanwhile wait for the next round, after the sockets have
  // been polled again.
  std::deque<Task> ready;
  ready.swap(tasks_);
  for (Task& task : ready) task();
}

void EventLoop::take_remote_tasks() {
  uint64_t count;
  [[maybe_unused]] ssize_t ignored = ::read(wake_fd_, &count, sizeof(count));
  std::lock_guard<std::mutex> lock(remote_mutex_);
  for (Task& task : remote_tasks_) tasks_.push_back(std::move(task));
  remote_tasks_.clear();
}

void EventLoop::run_due_timers() {
  if (deadlines_.empty()) return;
  // Only those due when the round began: a handler that re-arms for "now"
  // runs next round.
  std::size_t due = 0;
  for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first <= now_; ++it) ++due;
  for (; due > 0 && !deadlines_.empty() && deadlines_.begin()->first <= now_; --due) {
    Timer* timer = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    timer->armed_ = false;
    Timer::Handler handler = std::move(timer->handler_);
    timer->handler_ = nullptr;
    handler({});
  }
}

int EventLoop::wait_timeout() const {
  if (!tasks_.empty()) return 0;
  if (deadlines_.empty()) return -1;
  auto left = deadlines_.begin()->first - std::chrono::steady_clock::now();
  if (left <= left.zero()) return 0;
  // Rounded up: waking a little late is fine, early would spin.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
}

Timer::~Timer() {
  if (armed_) loop_.deadlines_.erase(position_);
}

void Timer::expires_after(std::chrono::steady_clock::duration after) {
  cancel();
  deadline_ = std::chrono::steady_clock::now() + after;
}

void Timer::async_wait(Handler handler) {
  cancel();
  handler_ = std::move(handler);
  armed_ = true;
  position_ = loop_.deadlines_.emplace(deadline_, this);
}

void Timer::cancel() {
  if (!armed_) return;
  loop_.deadlines_.erase(position_);
  armed_ = false;
  loop_.post([handler = std::move(handler_)] { handler(operation_aborted()); });
  handler_ = nullptr;
}

}  // namespace wsproxy::network

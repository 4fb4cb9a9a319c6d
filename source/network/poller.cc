// The worker's epoll set.
#include "source/network/poller.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace wsproxy::network {
namespace {

constexpr int kBatch = 256;

}  // namespace

Poller::Poller(boost::asio::io_context& io)
    : io_(io),
      epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      watch_(std::make_unique<boost::asio::posix::stream_descriptor>(io)) {
  if (epoll_fd_ < 0) {
    std::fprintf(stderr, "wsproxy: epoll_create1: %s\n", std::strerror(errno));
    std::abort();
  }
  watch_->assign(epoll_fd_);
  arm();
}

Poller::~Poller() { shutdown(); }

void Poller::shutdown() {
  if (!watch_) return;
  boost::system::error_code ignored;
  watch_->close(ignored);  // closes epoll_fd_
  watch_.reset();
  epoll_fd_ = -1;
}

bool Poller::add(int fd, Watcher* watcher) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = watcher;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) == 0;
}

void Poller::forget(Watcher* watcher) {
  if (dispatching_) removed_.push_back(watcher);
}

void Poller::arm() {
  watch_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec || !watch_) return;
    dispatch();
    arm();
  });
}

void Poller::dispatch() {
  epoll_event events[kBatch];
  for (;;) {
    int n = epoll_wait(epoll_fd_, events, kBatch, 0);
    if (n <= 0) return;
    dispatching_ = true;
    for (int i = 0; i < n; ++i) {
      auto* watcher = static_cast<Watcher*>(events[i].data.ptr);
      if (!removed_.empty() && std::find(removed_.begin(), removed_.end(), watcher) != removed_.end()) continue;
      watcher->on_ready(events[i].events);
    }
    dispatching_ = false;
    removed_.clear();
    if (n < kBatch) return;
  }
}

}  // namespace wsproxy::network

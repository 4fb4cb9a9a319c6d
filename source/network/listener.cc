// Accepting sockets.
#include "source/network/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace wsproxy::network {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};
constexpr int kBacklog = 4096;
// Connections accepted per wake-up before other work gets a turn.
constexpr int kAcceptsPerWake = 64;

}  // namespace

std::vector<int> bind_reuseport(std::size_t count, const std::string& address, uint16_t port, std::string& error) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof(sockaddr_in6);
  } else {
    error = "\"" + address + "\" is not an IP address";
    return {};
  }
  std::vector<int> out;
  auto fail = [&](const char* step) {
    error = std::string("cannot ") + step + " " + address + ":" + std::to_string(port) + ": " + std::strerror(errno);
    for (int fd : out) ::close(fd);
    return std::vector<int>();
  };
  for (std::size_t i = 0; i < count; ++i) {
    int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail("open");
    out.push_back(fd);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) return fail("set SO_REUSEADDR on");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) return fail("set SO_REUSEPORT on");
    // Accepted sockets inherit it: one system call per listener, not per connection.
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) return fail("set TCP_NODELAY on");
    if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) return fail("bind");
    if (::listen(fd, kBacklog) != 0) return fail("listen on");
    // Port 0: the others join the port the kernel picked for the first.
    port = bound_port(fd);
    if (storage.ss_family == AF_INET) v4->sin_port = htons(port);
    else v6->sin6_port = htons(port);
  }
  return out;
}

uint16_t bound_port(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return 0;
  return ntohs(local.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
}

AcceptLoop::AcceptLoop(EventLoop& loop, int fd, OnAccept on_accept, OnError on_error, OnResumed on_resumed)
    : loop_(loop),
      fd_(fd),
      backoff_timer_(loop),
      on_accept_(std::move(on_accept)),
      on_error_(std::move(on_error)),
      on_resumed_(std::move(on_resumed)) {}

AcceptLoop::~AcceptLoop() {
  if (fd_ >= 0) ::close(fd_);
}

void AcceptLoop::start() {
  // Refused (no memory, or fs.epoll.max_user_watches reached): a failure
  // like a failed accept; the pause ends in another try.
  if (!loop_.add(fd_, this)) return back_off(errno);
  watched_ = true;
  accept_some();
}

void AcceptLoop::stop() {
  if (fd_ < 0) return;
  loop_.forget(this);
  ::close(fd_);
  fd_ = -1;
  watched_ = false;
  backoff_timer_.cancel();
}

void AcceptLoop::on_ready(uint32_t) {
  if (!backing_off_) accept_some();
}

void AcceptLoop::accept_some() {
  for (int accepted = 0; fd_ >= 0; ++accepted) {
    if (accepted == kAcceptsPerWake) {
      // Edge-triggered: no new event comes for connections already queued,
      // so come back for them after other work has run.
      loop_.post([self = shared_from_this()] {
        if (!self->backing_off_) self->accept_some();
      });
      return;
    }
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      backoff_ = std::chrono::milliseconds(0);
      if (failures_in_a_row_ > 0) on_resumed_(std::exchange(failures_in_a_row_, 0));
      on_accept_(fd, peer);
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    return back_off(errno);
  }
}

void AcceptLoop::back_off(int error) {
  // Out of descriptors or memory: wait, doubling the pause, so the loop
  // does not spin while connections end and free what is needed.
  on_error_(error, ++failures_in_a_row_);
  if (fd_ < 0) return;  // on_error_ stopped the loop
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  backing_off_ = true;
  backoff_timer_.expires_after(backoff_);
  backoff_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    self->backing_off_ = false;
    if (ec) return;  // cancelled by stop()
    self->watched_ ? self->accept_some() : self->start();
  });
}

}  // namespace wsproxy::network

// Listening sockets: SO_REUSEPORT sharing of one port, TCP_NODELAY
// inherited by accepted connections, and an accept loop whose socket the
// event loop refuses.
#include "source/network/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace wsproxy::network {
namespace {

int tcp_option(int fd, int option) {
  int value = -1;
  socklen_t length = sizeof(value);
  if (getsockopt(fd, IPPROTO_TCP, option, &value, &length) != 0) return -1;
  return value;
}

TEST(ListenerTest, SocketsShareTheKernelsPortAndAcceptedOnesHaveNoDelay) {
  std::string error;
  std::vector<int> fds = bind_reuseport(2, "127.0.0.1", 0, error);
  ASSERT_EQ(fds.size(), 2u) << error;
  uint16_t port = bound_port(fds[0]);
  EXPECT_NE(port, 0);
  EXPECT_EQ(bound_port(fds[1]), port);

  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  // The kernel put the connection on one of the two sockets; both are
  // non-blocking, so poll them in turn (bounded).
  int accepted = -1;
  for (int round = 0; round < 2000 && accepted < 0; ++round) {
    for (int fd : fds) {
      if (accepted < 0) accepted = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    }
    if (accepted < 0) ::usleep(1000);
  }
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(tcp_option(accepted, TCP_NODELAY), 1);
  EXPECT_EQ(tcp_option(client, TCP_NODELAY), 0);  // a socket of our own making is not affected

  ::close(accepted);
  ::close(client);
  for (int fd : fds) ::close(fd);
}

// epoll refuses a descriptor it cannot poll (here /dev/null, EPERM) as it
// would a socket when out of memory or watches: each refusal is reported
// as a failure of a streak, and start() is tried again after a pause
// instead of leaving the listener silently deaf.
TEST(AcceptLoopTest, ASocketTheLoopRefusesIsReportedAndRetried) {
  EventLoop loop;
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::vector<std::pair<int, uint64_t>> failures;
  std::shared_ptr<AcceptLoop> accept_loop;
  accept_loop = std::make_shared<AcceptLoop>(
      loop, fd, [](int, const sockaddr_storage&) { ADD_FAILURE() << "nothing can be accepted"; },
      [&](int error, uint64_t in_a_row) {
        failures.emplace_back(error, in_a_row);
        if (in_a_row == 3) accept_loop->stop();  // ends the retries, and so run()
      },
      [](uint64_t) { ADD_FAILURE() << "never resumed"; });
  accept_loop->start();
  loop.finish();
  loop.run();  // bounded: the pauses are 10, 20 ms, then stop()
  ASSERT_EQ(failures.size(), 3u);
  for (std::size_t i = 0; i < failures.size(); ++i) {
    EXPECT_EQ(failures[i].first, EPERM);
    EXPECT_EQ(failures[i].second, i + 1);
  }
}

// Refused twice, then the descriptor becomes a listening socket (dup2
// over it, as if the kernel had found memory again): the next try joins
// the loop, the connection already queued is accepted, and the streak is
// reported as over.
TEST(AcceptLoopTest, AListenerTheLoopRefusedAcceptsOnceTaken) {
  std::string error;
  std::vector<int> listening = bind_reuseport(1, "127.0.0.1", 0, error);
  ASSERT_EQ(listening.size(), 1u) << error;
  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(bound_port(listening[0]));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);  // queued before start()

  EventLoop loop;
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  uint64_t failures = 0;
  uint64_t resumed_after = 0;
  int accepted = 0;
  std::shared_ptr<AcceptLoop> accept_loop;
  accept_loop = std::make_shared<AcceptLoop>(
      loop, fd,
      [&](int connection, const sockaddr_storage&) {
        ++accepted;
        ::close(connection);
        accept_loop->stop();  // ends run()
      },
      [&](int, uint64_t in_a_row) {
        failures = in_a_row;
        if (in_a_row == 2) ASSERT_EQ(::dup2(listening[0], fd), fd);
        if (in_a_row == 5) accept_loop->stop();  // a bound if the retry never takes
      },
      [&](uint64_t after) { resumed_after = after; });
  accept_loop->start();
  loop.finish();
  loop.run();
  EXPECT_EQ(failures, 2u);
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(resumed_after, 2u);
  ::close(client);
  ::close(listening[0]);
}

}  // namespace
}  // namespace wsproxy::network

// Streams over plain sockets on epoll: readiness kept without system calls (a short
// read marks the socket empty; an event marks it readable again), and a
// socket the event loop refuses.
#include "source/network/stream.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "gtest/gtest.h"

namespace wsproxy::network {
namespace {

TEST(StreamTest, AShortReadMarksTheSocketEmptyUntilItsNextEvent) {
  EventLoop loop(/*io_uring=*/false);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  Stream stream(loop, fds[0]);
  ASSERT_TRUE(stream.watched());
  ASSERT_EQ(::write(fds[1], "abc", 3), 3);

  char data[16];
  IoResult r = stream.read_some(data, sizeof(data));
  ASSERT_EQ(r.status, Io::done);
  EXPECT_EQ(std::string(data, r.bytes), "abc");
  // Known empty: the socket is not asked again, even though bytes came.
  ASSERT_EQ(::write(fds[1], "de", 2), 2);
  EXPECT_EQ(stream.read_some(data, sizeof(data)).status, Io::want_read);

  // The wait ends on the event those bytes raised; then they are read.
  bool woke = false;
  stream.async_wait(Io::want_read, [&](const boost::system::error_code& ec) { woke = !ec; });
  EXPECT_FALSE(woke);  // never before async_wait returns
  Timer wait_for_event(loop);
  wait_for_event.expires_after(std::chrono::milliseconds(1));
  wait_for_event.async_wait([](const boost::system::error_code&) {});
  loop.finish();
  loop.run();
  EXPECT_TRUE(woke);
  r = stream.read_some(data, sizeof(data));
  ASSERT_EQ(r.status, Io::done);
  EXPECT_EQ(std::string(data, r.bytes), "de");

  ::close(fds[1]);
}

TEST(StreamTest, ASocketTheLoopRefusesIsUnusableAndSaysWhy) {
  EventLoop loop(/*io_uring=*/false);
  // epoll cannot poll /dev/null (EPERM), as it refuses a socket when out of
  // memory or watches.
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Stream stream(loop, fd);
  EXPECT_FALSE(stream.watched());
  EXPECT_EQ(stream.error_text(), "cannot watch the socket: Operation not permitted");
}

}  // namespace
}  // namespace wsproxy::network

// Plain streams carried by the loop's io_uring (IoRing, RingSocket): the
// readiness interface kept (a read that finds nothing arms a receive and
// the completion wakes the reader), writes taken into the socket's send
// buffer and sent in order, backpressure when it is full, bytes written
// before a close still delivered (also when the socket is full then, and
// counted as dropped if the peer takes nothing for 10 s), end
// of stream and resets, readers that leave bytes behind not holding the
// shared buffers (and receives starved of one served once they come
// back), file slots recycled as sockets close and open, and splicing
// stopping the armed receive and held back until its bytes are read. The peer is the other end of a
// socketpair, driven with plain system calls.
#include "source/network/io_ring.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "source/network/stream.h"
#include "source/stats/stats.h"

namespace wsproxy::network {
namespace {

using std::chrono::steady_clock;

// Runs the loop for one short round: what is prepared is submitted and
// what has completed is handled.
void run_round(EventLoop& loop) {
  Timer round(loop);
  round.expires_after(std::chrono::milliseconds(1));
  round.async_wait([](const boost::system::error_code&) {});
  loop.finish();
  loop.run();
}

// Runs the loop in short rounds until `done` holds or `limit` has passed.
bool run_until(EventLoop& loop, const std::function<bool()>& done,
               std::chrono::seconds limit = std::chrono::seconds(5)) {
  auto deadline = steady_clock::now() + limit;
  while (!done()) {
    if (steady_clock::now() > deadline) return false;
    run_round(loop);
  }
  return true;
}

struct Pair {
  int ours = -1, peer = -1;
  Pair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0) {
      ours = fds[0];
      peer = fds[1];
    }
  }
  ~Pair() {
    if (peer >= 0) ::close(peer);
  }
};

// Reads what the peer end has, without waiting.
std::string drain(int fd) {
  std::string got;
  char data[65536];
  for (ssize_t n; (n = ::read(fd, data, sizeof(data))) > 0;) got.append(data, static_cast<std::size_t>(n));
  return got;
}

// Reads the peer end, running the loop, until `size` bytes have come or
// 5 s have passed; returns what came.
std::string read_at_least(EventLoop& loop, int fd, std::size_t size) {
  std::string got;
  run_until(loop, [&] {
    got += drain(fd);
    return got.size() >= size;
  });
  return got;
}

// Reads the peer end, running the loop, until the stream's end arrives;
// false if it has not within 5 s.
bool read_to_end(EventLoop& loop, int fd, std::string& got) {
  return run_until(loop, [&] {
    char data[4096];
    ssize_t n = ::read(fd, data, sizeof(data));
    if (n > 0) got.append(data, static_cast<std::size_t>(n));
    return n == 0;
  });
}

class IoRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // This machine's kernel (and CI's) has io_uring: not finding it is a
    // failure, not a reason to skip.
    ASSERT_NE(loop_.ring(), nullptr) << "no io_uring: the loop fell back to epoll";
  }
  EventLoop loop_;
};

TEST_F(IoRingTest, AReadThatFindsNothingArmsAReceiveWhoseCompletionWakesTheReader) {
  Pair pair;
  Stream stream(loop_, pair.ours);
  char data[64];
  EXPECT_EQ(stream.read_some(data, sizeof(data)).status, Io::want_read);
  bool woke = false;
  stream.async_wait(Io::want_read, [&](const boost::system::error_code& ec) { woke = !ec; });
  run_round(loop_);
  EXPECT_FALSE(woke);  // nothing came yet

  ASSERT_EQ(::write(pair.peer, "hello", 5), 5);
  ASSERT_TRUE(run_until(loop_, [&] { return woke; }));
  EXPECT_TRUE(stream.has_buffered_input());
  IoResult r = stream.read_some(data, 3);
  ASSERT_EQ(r.status, Io::done);
  EXPECT_EQ(std::string(data, r.bytes), "hel");
  r = stream.read_some(data, sizeof(data));
  ASSERT_EQ(r.status, Io::done);
  EXPECT_EQ(std::string(data, r.bytes), "lo");
  EXPECT_FALSE(stream.has_buffered_input());
  EXPECT_EQ(stream.read_some(data, sizeof(data)).status, Io::want_read);
}

TEST_F(IoRingTest, WritesAreSentInOrderWithTheNextSubmission) {
  Pair pair;
  Stream stream(loop_, pair.ours);
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string piece = "message " + std::to_string(i) + ";";
    IoResult r = stream.write_some(piece.data(), piece.size());
    ASSERT_EQ(r.status, Io::done);
    ASSERT_EQ(r.bytes, piece.size());
    expected += piece;
  }
  EXPECT_EQ(read_at_least(loop_, pair.peer, expected.size()), expected);
}

TEST_F(IoRingTest, AFullSendBufferSaysWantWriteUntilThePeerReads) {
  Pair pair;
  int small = 4096;
  ASSERT_EQ(setsockopt(pair.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  ASSERT_EQ(setsockopt(pair.ours, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  Stream stream(loop_, pair.ours);
  std::string block(4096, 'x');
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);

  // Write until the socket and the stream's buffer are full.
  std::string written;
  bool blocked = false;
  for (int rounds = 0; rounds < 1000 && !blocked; ++rounds) {
    IoResult r = stream.write_some(block.data(), block.size());
    if (r.status == Io::want_write) {
      blocked = true;
      break;
    }
    ASSERT_EQ(r.status, Io::done);
    written.append(block.data(), r.bytes);
    if (rounds % 4 == 3) run_round(loop_);
  }
  ASSERT_TRUE(blocked) << "the stream took " << written.size() << " bytes without pushing back";

  bool writable = false;
  stream.async_wait(Io::want_write, [&](const boost::system::error_code& ec) { writable = !ec; });
  std::string got;
  ASSERT_TRUE(run_until(loop_, [&] {
    got += drain(pair.peer);
    return writable && got.size() == written.size();
  }));
  EXPECT_EQ(got, written);
}

TEST_F(IoRingTest, BytesWrittenJustBeforeCloseStillReachThePeerThenItsEnd) {
  Pair pair;
  auto stream = std::make_unique<Stream>(loop_, pair.ours);
  ASSERT_EQ(stream->write_some("HTTP/1.1 403 Forbidden\r\n\r\n", 26).status, Io::done);
  stream.reset();  // closes, as a connection does after a denial
  std::string got;
  ASSERT_TRUE(read_to_end(loop_, pair.peer, got));
  EXPECT_EQ(got, "HTTP/1.1 403 Forbidden\r\n\r\n");
}

// Shrinks the pair's socket buffers, then writes patterned bytes into
// `stream` until it pushes back; returns what it took.
std::string fill(EventLoop& loop, const Pair& pair, Stream& stream) {
  int small = 4096;
  setsockopt(pair.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  setsockopt(pair.ours, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  std::string block(1000, 'x');
  std::string written;
  for (int rounds = 0; rounds < 1000; ++rounds) {
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + (written.size() + i) % 26);
    IoResult r = stream.write_some(block.data(), block.size());
    if (r.status != Io::done) break;
    written.append(block.data(), r.bytes);
    if (rounds % 8 == 7) run_round(loop);
  }
  return written;
}

TEST_F(IoRingTest, ASocketClosedWhileFullSendsWhatItTookOnceThePeerReads) {
  Pair pair;
  auto stream = std::make_unique<Stream>(loop_, pair.ours);
  std::string written = fill(loop_, pair, *stream);
  ASSERT_GT(written.size(), 3 * 4096u);  // more than the socket holds
  stream.reset();  // closed with its send buffer full
  std::string got;
  ASSERT_TRUE(read_to_end(loop_, pair.peer, got));
  EXPECT_EQ(got.size(), written.size());
  EXPECT_TRUE(got == written);
}

TEST_F(IoRingTest, WhatASocketClosedWhileFullStillHoldsAfter10SecondsOfAPeerTakingNothingIsCountedAsDropped) {
  stats::Counter dropped(1);
  loop_.count_bytes_dropped_at_close(dropped);
  Pair pair;
  auto stream = std::make_unique<Stream>(loop_, pair.ours);
  std::string written = fill(loop_, pair, *stream);
  ASSERT_GT(written.size(), 3 * 4096u);
  stream.reset();  // closed with its send buffer full; the peer reads nothing
  ASSERT_TRUE(run_until(loop_, [&] { return dropped.value() > 0; }, std::chrono::seconds(30)));
  // What the kernel had taken still reaches the peer; the rest is counted.
  std::string got = drain(pair.peer);
  EXPECT_GT(got.size(), 0u);
  EXPECT_EQ(got.size() + dropped.value(), written.size());
  EXPECT_EQ(got, written.substr(0, got.size()));
}

TEST_F(IoRingTest, SocketsOpenedAsOthersCloseReuseTheirFileSlotsAndCarryOnlyTheirOwnBytes) {
  // Each round closes one socket and opens another before the close is
  // submitted (so the new one cannot have the old one's registered slot
  // yet); the next round's sockets get the slots freed by the last. An
  // idle socket's receive stays armed all along: it must not hold the
  // closed ones open (kernels before 6.13 would, so slots are not used
  // there).
  Pair idle_pair;
  Stream idle(loop_, idle_pair.ours);
  char nothing[16];
  ASSERT_EQ(idle.read_some(nothing, sizeof(nothing)).status, Io::want_read);
  for (int i = 0; i < 40; ++i) {
    Pair closing, opened;
    std::string bye = "bye " + std::to_string(i), hi = "hi " + std::to_string(i), back = "back " + std::to_string(i);
    {
      Stream old(loop_, closing.ours);
      ASSERT_EQ(old.write_some(bye.data(), bye.size()).bytes, bye.size());
    }
    Stream fresh(loop_, opened.ours);
    ASSERT_EQ(::write(opened.peer, hi.data(), hi.size()), static_cast<ssize_t>(hi.size()));
    std::string got;
    ASSERT_TRUE(run_until(loop_, [&] {
      char data[64];
      IoResult r = fresh.read_some(data, sizeof(data));
      if (r.status == Io::done) got.append(data, r.bytes);
      return got.size() >= hi.size();
    }));
    EXPECT_EQ(got, hi);
    std::string closed_got;
    ASSERT_TRUE(read_to_end(loop_, closing.peer, closed_got));
    EXPECT_EQ(closed_got, bye);
    ASSERT_EQ(fresh.write_some(back.data(), back.size()).bytes, back.size());
    EXPECT_EQ(read_at_least(loop_, opened.peer, back.size()), back);
  }
}

TEST_F(IoRingTest, AReaderThatPausesStopsTheReceiveSoThePeerIsHeldBackByTheSocket) {
  Pair pair;
  Stream stream(loop_, pair.ours);
  char data[65536];
  // Small pieces for a while: the socket's receive becomes multishot.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(::write(pair.peer, "ping", 4), 4);
    std::size_t got = 0;
    ASSERT_TRUE(run_until(loop_, [&] {
      IoResult r = stream.read_some(data, sizeof(data));
      if (r.status == Io::done) got += r.bytes;
      return got == 4;
    }));
  }
  EXPECT_EQ(stream.read_some(data, 1).status, Io::want_read);  // arms a receive; then nothing reads
  // The peer writes small pieces (as a chatty client does) for as long as
  // the socket takes them. A receive that went on after the reader paused
  // would drain the socket into memory round after round, and the peer
  // could write without end.
  std::string written;
  for (int round = 0; round < 600; ++round) {
    for (int piece = 0; piece < 8; ++piece) {
      std::string bytes(1024, static_cast<char>('a' + (written.size() / 1024) % 26));
      ssize_t n = ::write(pair.peer, bytes.data(), bytes.size());
      if (n <= 0) break;
      written.append(bytes, 0, static_cast<std::size_t>(n));
    }
    run_round(loop_);
  }
  EXPECT_LT(written.size(), 2u << 20);
  // Everything written arrives, in order, once the reader reads again.
  std::string got;
  ASSERT_TRUE(run_until(loop_, [&] {
    for (IoResult r; (r = stream.read_some(data, sizeof(data))).status == Io::done;) got.append(data, r.bytes);
    return got.size() >= written.size();
  }));
  EXPECT_TRUE(got == written) << got.size() << " bytes read of " << written.size();
}

TEST_F(IoRingTest, ReadersThatLeaveBytesBehindDoNotHoldTheSharedBuffers) {
  // More sockets than buffers, each read one byte and then left: the
  // receives past the 64th find no buffer until the end of the round, when
  // what readers left moves out of the shared buffers and those starved
  // receives are armed again; every socket gets its bytes.
  constexpr int kSockets = 80;
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<std::unique_ptr<Stream>> streams;
  char data[64];
  for (int i = 0; i < kSockets; ++i) {
    pairs.push_back(std::make_unique<Pair>());
    streams.push_back(std::make_unique<Stream>(loop_, pairs.back()->ours));
    ASSERT_EQ(streams.back()->read_some(data, sizeof(data)).status, Io::want_read);
    std::string text = "socket " + std::to_string(i);
    ASSERT_EQ(::write(pairs.back()->peer, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  std::vector<std::string> got(kSockets);
  ASSERT_TRUE(run_until(loop_, [&] {
    bool all = true;
    for (int i = 0; i < kSockets; ++i) {
      if (got[i].empty()) {
        IoResult r = streams[i]->read_some(data, 1);
        if (r.status == Io::done) got[i].assign(data, r.bytes);
      }
      all = all && !got[i].empty();
    }
    return all;
  }));
  for (int i = 0; i < kSockets; ++i) {
    IoResult r = streams[i]->read_some(data, sizeof(data));
    ASSERT_EQ(r.status, Io::done);
    EXPECT_EQ(got[i] + std::string(data, r.bytes), "socket " + std::to_string(i));
  }
}

TEST_F(IoRingTest, ShutdownWriteWaitsForPendingBytesAndTheOtherDirectionStaysOpen) {
  Pair pair;
  Stream stream(loop_, pair.ours);
  ASSERT_EQ(stream.write_some("last words", 10).status, Io::done);
  stream.shutdown_write();
  std::string got;
  ASSERT_TRUE(read_to_end(loop_, pair.peer, got));
  EXPECT_EQ(got, "last words");

  ASSERT_EQ(::write(pair.peer, "reply", 5), 5);
  char data[16];
  IoResult r{Io::want_read};
  ASSERT_TRUE(run_until(loop_, [&] { return (r = stream.read_some(data, sizeof(data))).status != Io::want_read; }));
  ASSERT_EQ(r.status, Io::done);
  EXPECT_EQ(std::string(data, r.bytes), "reply");
  EXPECT_EQ(stream.write_some("more", 4).status, Io::error);  // its sending side is shut
}

// What reading a TCP stream on `loop` reports after the peer reset it (it
// closed with bytes of ours unread).
std::pair<Io, std::string> read_after_reset(EventLoop& loop) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(::listen(listener, 1), 0);
  EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  auto client = Stream::open(loop, AF_INET, nullptr);
  IoResult c = client->connect(reinterpret_cast<sockaddr*>(&address), sizeof(address));
  if (c.status == Io::want_write) {
    bool connected = false;
    client->async_wait(Io::want_write, [&](const boost::system::error_code& ec) { connected = !ec; });
    EXPECT_TRUE(run_until(loop, [&] { return connected; }));
    c = client->finish_connect();
  }
  EXPECT_EQ(c.status, Io::done);
  int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_EQ(client->write_some("unread", 6).status, Io::done);
  char data[16];
  IoResult r = client->read_some(data, sizeof(data));
  EXPECT_EQ(r.status, Io::want_read);
  EXPECT_TRUE(run_until(loop, [&] {
    int queued = 0;
    return ioctl(accepted, FIONREAD, &queued) == 0 && queued == 6;
  }));
  ::close(accepted);
  ::close(listener);
  EXPECT_TRUE(run_until(loop, [&] { return (r = client->read_some(data, sizeof(data))).status != Io::want_read; }));
  return {r.status, client->error_text()};
}

TEST_F(IoRingTest, ThePeersEndOfStreamAndAResetAreReportedAsOnEpoll) {
  Pair ended;
  Stream quiet(loop_, ended.ours);
  char data[16];
  EXPECT_EQ(quiet.read_some(data, sizeof(data)).status, Io::want_read);
  ::shutdown(ended.peer, SHUT_WR);
  IoResult r{Io::want_read};
  ASSERT_TRUE(run_until(loop_, [&] { return (r = quiet.read_some(data, sizeof(data))).status != Io::want_read; }));
  EXPECT_EQ(r.status, Io::eof);

  auto [status, text] = read_after_reset(loop_);
  EXPECT_EQ(status, Io::error);
  EventLoop epoll_loop(/*io_uring=*/false);
  auto [epoll_status, epoll_text] = read_after_reset(epoll_loop);
  EXPECT_EQ(epoll_status, Io::error);
  EXPECT_EQ(text, epoll_text);
}

TEST_F(IoRingTest, SplicingStopsTheArmedReceiveAndWaitsUntilItsBytesAreRead) {
  Pair pair;
  Stream stream(loop_, pair.ours);
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  char data[64];
  EXPECT_EQ(stream.read_some(data, sizeof(data)).status, Io::want_read);  // arms a receive
  ASSERT_EQ(::write(pair.peer, "first", 5), 5);
  // The armed receive may take these bytes: splicing now could pass them
  // by. It is stopped, and its last completion wakes the reader.
  EXPECT_EQ(stream.splice_to_pipe(pipe_fds[1], 64).status, Io::want_read);
  bool woke = false;
  stream.async_wait(Io::want_read, [&](const boost::system::error_code& ec) { woke = !ec; });
  ASSERT_TRUE(run_until(loop_, [&] { return woke; }));
  // What it took is read first, the rest spliced.
  std::string in_order;
  ASSERT_TRUE(run_until(loop_, [&] {
    if (stream.has_buffered_input()) {
      IoResult r = stream.read_some(data, sizeof(data));
      if (r.status == Io::done) in_order.append(data, r.bytes);
    } else if (stream.splice_to_pipe(pipe_fds[1], 64).status == Io::done) {
      ssize_t n = ::read(pipe_fds[0], data, sizeof(data));
      if (n > 0) in_order.append(data, static_cast<std::size_t>(n));
    }
    return in_order.size() >= 5;
  }));
  EXPECT_EQ(in_order, "first");

  // Nothing armed now: what comes next is spliced.
  ASSERT_EQ(::write(pair.peer, "second", 6), 6);
  IoResult r = stream.splice_to_pipe(pipe_fds[1], 64);
  ASSERT_EQ(r.status, Io::done);
  ASSERT_EQ(r.bytes, 6u);
  ASSERT_EQ(::read(pipe_fds[0], data, sizeof(data)), 6);
  EXPECT_EQ(std::string(data, 6), "second");
  // An empty socket: want_read, and a poll wakes the splicer.
  EXPECT_EQ(stream.splice_to_pipe(pipe_fds[1], 64).status, Io::want_read);
  woke = false;
  stream.async_wait(Io::want_read, [&](const boost::system::error_code& ec) { woke = !ec; });
  ASSERT_EQ(::write(pair.peer, "third", 5), 5);
  ASSERT_TRUE(run_until(loop_, [&] { return woke; }));
  r = stream.splice_to_pipe(pipe_fds[1], 64);
  ASSERT_EQ(r.status, Io::done);
  EXPECT_EQ(r.bytes, 5u);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

}  // namespace
}  // namespace wsproxy::network

// The worker event loop: task order, wake-ups from other threads, timers
// (order, cancel, re-arm, destruction), socket readiness, when run()
// returns, posts refused after it has, and what the destructor does with
// work still queued.
#include "source/network/event_loop.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace wsproxy::network {
namespace {

using std::chrono::milliseconds;

TEST(EventLoopTest, TasksRunInOrderAndLaterPostsRunAfter) {
  EventLoop loop;
  std::string order;
  loop.post([&] {
    order += "a";
    loop.post([&] { order += "c"; });
  });
  loop.post([&] { order += "b"; });
  loop.finish();
  loop.run();
  EXPECT_EQ(order, "abc");
}

TEST(EventLoopTest, AnotherThreadWakesASleepingLoop) {
  EventLoop loop;
  std::thread runner([&] { loop.run(); });
  bool ran = false;
  // Give the loop time to fall asleep in epoll_wait (it passes either way;
  // asleep is the case that needs the wake-up).
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_TRUE(loop.post_from_any_thread([&] {
    ran = true;
    loop.finish();
  }));
  runner.join();
  EXPECT_TRUE(ran);
}

TEST(EventLoopTest, TimersFireInDeadlineOrderAndRunWaitsForThem) {
  EventLoop loop;
  Timer late(loop), early(loop);
  std::string order;
  late.expires_after(milliseconds(40));
  late.async_wait([&](const boost::system::error_code& ec) { order += ec ? "x" : "late"; });
  early.expires_after(milliseconds(5));
  early.async_wait([&](const boost::system::error_code& ec) { order += ec ? "x" : "early,"; });
  auto started = std::chrono::steady_clock::now();
  loop.finish();  // run() still waits for the armed timers
  loop.run();
  EXPECT_EQ(order, "early,late");
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(40));
}

TEST(EventLoopTest, CancelAndRearmAbortTheWaitingHandler) {
  EventLoop loop;
  Timer timer(loop);
  std::vector<std::string> results;
  auto record = [&](const std::string& name) {
    return [&results, name](const boost::system::error_code& ec) {
      results.push_back(name + (ec == operation_aborted() ? ":aborted" : ":fired"));
    };
  };
  timer.expires_after(milliseconds(1));
  timer.async_wait(record("first"));
  timer.cancel();
  timer.expires_after(milliseconds(1));
  timer.async_wait(record("second"));
  timer.expires_after(milliseconds(2));  // cancels "second"
  timer.async_wait(record("third"));
  loop.finish();
  loop.run();
  EXPECT_EQ(results, (std::vector<std::string>{"first:aborted", "second:aborted", "third:fired"}));
}

TEST(EventLoopTest, DestroyingAnArmedTimerDropsItsHandler) {
  EventLoop loop;
  bool called = false;
  {
    Timer timer(loop);
    timer.expires_after(milliseconds(1));
    timer.async_wait([&](const boost::system::error_code&) { called = true; });
  }
  loop.finish();
  loop.run();  // returns at once: no timer is left
  EXPECT_FALSE(called);
}

struct Readiness : EventLoop::Watcher {
  void on_ready(uint32_t ready) override { events |= ready; }
  uint32_t events = 0;
};

TEST(EventLoopTest, WatchedSocketsReportReadiness) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  Readiness watcher;
  ASSERT_TRUE(loop.add(fds[0], &watcher));
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  // Bounded: the event is there at the first wait; the timer ends run().
  Timer stop(loop);
  stop.expires_after(milliseconds(20));
  stop.async_wait([](const boost::system::error_code&) {});
  loop.finish();
  loop.run();
  EXPECT_TRUE(watcher.events & EPOLLIN);
  EXPECT_TRUE(watcher.events & EPOLLOUT);
  ::close(fds[0]);
  ::close(fds[1]);
}

struct Counted {
  explicit Counted(int& destroyed) : destroyed(destroyed) {}
  ~Counted() { ++destroyed; }
  int& destroyed;
};

// Posts a task from its destructor, as a connection ending does; the task
// holds something that counts its own destruction.
struct PostsWhenDestroyed {
  PostsWhenDestroyed(EventLoop& loop, int& destroyed) : loop(loop), destroyed(destroyed) {}
  ~PostsWhenDestroyed() {
    ++destroyed;
    loop.post([counted = std::make_shared<Counted>(destroyed)] {});
  }
  EventLoop& loop;
  int& destroyed;
};

TEST(EventLoopTest, DestructorDestroysQueuedWorkEvenWhenThatPostsMore) {
  int destroyed = 0;
  {
    auto loop = std::make_unique<EventLoop>();
    auto holder = std::make_shared<PostsWhenDestroyed>(*loop, destroyed);
    loop->post([holder] {});
    auto timer = std::make_shared<Timer>(*loop);
    timer->expires_after(std::chrono::hours(1));
    auto second = std::make_shared<PostsWhenDestroyed>(*loop, destroyed);
    timer->async_wait([second, timer](const boost::system::error_code&) {});
    holder.reset();
    second.reset();
    timer.reset();  // the handler holds the timer and `second`
    loop.reset();
  }
  EXPECT_EQ(destroyed, 4);  // both holders, and what each posted as it went
}

// Another thread keeps posting while the loop finishes: each task either
// runs or is refused, none is queued where nothing will run it (a caller
// waiting for it would wait for ever). Whether a post lands in the window
// between the loop's last look and its return is up to the scheduler; the
// refusal after run() has returned is checked every time.
TEST(EventLoopTest, PostsRacingTheEndEitherRunOrAreRefused) {
  constexpr int kPosts = 20000;
  EventLoop loop;
  std::atomic<int> ran{0};
  int refused = 0;
  std::thread runner([&] { loop.run(); });
  for (int i = 0; i < kPosts; ++i) {
    if (i == kPosts / 100) loop.finish();
    if (!loop.post_from_any_thread([&] { ++ran; })) ++refused;
  }
  runner.join();
  EXPECT_EQ(ran + refused, kPosts);
  EXPECT_GT(ran, 0);
  EXPECT_FALSE(loop.post_from_any_thread([] {}));  // and still refused later
}

}  // namespace
}  // namespace wsproxy::network

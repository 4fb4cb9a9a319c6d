// Tests of the shared per-key limiter, with a controlled clock.
#include "filters/rate_limit/limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace wsproxy::filters::rate_limit {
namespace {

using Outcome = Limiter::Outcome;
using std::chrono::milliseconds;

struct Fixture {
  stats::Store store{1};
  Limiter::Clock::time_point t0 = Limiter::Clock::now();
};

TEST(LimiterTest, BurstThenRate) {
  Fixture f;
  Limiter limiter({/*rate*/ 2.0, /*burst*/ 3, 0, 100}, f.store.gauge("keys"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::admitted);
  auto denied = limiter.admit("a", f.t0);
  EXPECT_EQ(denied.outcome, Outcome::rate);
  EXPECT_EQ(denied.retry_after_seconds, 1u);  // one token in 0.5 s, rounded up
  EXPECT_EQ(limiter.admit("a", f.t0 + milliseconds(400)).outcome, Outcome::rate);
  EXPECT_EQ(limiter.admit("a", f.t0 + milliseconds(500)).outcome, Outcome::admitted);
  // Another key has its own bucket.
  EXPECT_EQ(limiter.admit("b", f.t0).outcome, Outcome::admitted);
}

TEST(LimiterTest, RetryAfterCoversTheWait) {
  Fixture f;
  Limiter limiter({0.1, 1, 0, 100}, f.store.gauge("keys"));
  EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::admitted);
  auto denied = limiter.admit("a", f.t0);
  EXPECT_EQ(denied.retry_after_seconds, 10u);
}

TEST(LimiterTest, BucketNeverExceedsBurst) {
  Fixture f;
  Limiter limiter({100.0, 2, 0, 100}, f.store.gauge("keys"));
  EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::admitted);
  auto later = f.t0 + std::chrono::hours(1);
  EXPECT_EQ(limiter.admit("a", later).outcome, Outcome::admitted);
  EXPECT_EQ(limiter.admit("a", later).outcome, Outcome::admitted);
  EXPECT_EQ(limiter.admit("a", later).outcome, Outcome::rate);
}

TEST(LimiterTest, ConcurrentLimitAndRelease) {
  Fixture f;
  Limiter limiter({0, 0, 2, 100}, f.store.gauge("keys"));
  EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::admitted);
  EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::admitted);
  EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::concurrent);
  limiter.release("a");
  EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::admitted);
}

TEST(LimiterTest, ConcurrencyDenialDoesNotSpendAToken) {
  Fixture f;
  Limiter limiter({1.0, 2, 1, 100}, f.store.gauge("keys"));
  EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::admitted);
  EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::concurrent);
  limiter.release("a");
  EXPECT_EQ(limiter.admit("a", f.t0).outcome, Outcome::admitted);
}

TEST(LimiterTest, MemoryIsBoundedByMaxKeysAndIdleKeysMakeRoom) {
  Fixture f;
  stats::Gauge& keys = f.store.gauge("keys");
  // 16 shards, one key each.
  Limiter limiter({1.0, 1, 1, 16}, keys);
  int admitted = 0, full = 0;
  for (int i = 0; i < 1000; ++i) {
    auto a = limiter.admit("k" + std::to_string(i), f.t0);
    admitted += a.outcome == Outcome::admitted;
    full += a.outcome == Outcome::too_many_keys;
  }
  EXPECT_LE(keys.value(), 16);
  EXPECT_EQ(admitted + full, 1000);
  EXPECT_GT(full, 0);
  // Once the connections end and the buckets refill, the keys are idle and
  // new keys take their places.
  for (int i = 0; i < 1000; ++i) limiter.release("k" + std::to_string(i));
  int later_admitted = 0;
  for (int i = 1000; i < 1016; ++i) {
    later_admitted += limiter.admit("k" + std::to_string(i), f.t0 + std::chrono::seconds(5)).outcome == Outcome::admitted;
  }
  EXPECT_GT(later_admitted, 0);
  EXPECT_LE(keys.value(), 16);
}

TEST(LimiterTest, ExactAcrossThreads) {
  Fixture f;
  Limiter limiter({0.001, 100, 0, 1000}, f.store.gauge("keys"));
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) admitted += limiter.admit("shared", f.t0).outcome == Outcome::admitted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 100);
}

}  // namespace
}  // namespace wsproxy::filters::rate_limit

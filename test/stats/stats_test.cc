// Tests of sharded counters and gauges.
#include "source/stats/stats.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace wsproxy::stats {
namespace {

TEST(StoreTest, SameNameIsTheSameStat) {
  Store store(2);
  EXPECT_EQ(&store.counter("a.b"), &store.counter("a.b"));
  EXPECT_NE(&store.counter("a.b"), &store.counter("a.c"));
  EXPECT_EQ(&store.gauge("g"), &store.gauge("g"));
}

TEST(CounterTest, SumsIncrementsFromEveryThread) {
  Store store(5);
  Counter& c = store.counter("hits");
  std::vector<std::thread> threads;
  for (size_t shard = 0; shard < 4; ++shard) {
    threads.emplace_back([&c, shard] {
      set_thread_shard(shard + 1);
      for (int i = 0; i < 100000; ++i) c.inc();
    });
  }
  for (auto& t : threads) t.join();
  c.inc(5);
  EXPECT_EQ(c.value(), 400005u);
  auto values = store.counter_values();
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0].first, "hits");
}

TEST(CounterTest, OutOfRangeShardFallsBackToShardZero) {
  Store store(1);
  set_thread_shard(7);
  store.counter("x").inc();
  set_thread_shard(0);
  EXPECT_EQ(store.counter("x").value(), 1u);
}

TEST(GaugeTest, TryIncBelowStopsAtTheLimit) {
  Gauge g;
  EXPECT_TRUE(g.try_inc_below(2));
  EXPECT_TRUE(g.try_inc_below(2));
  EXPECT_FALSE(g.try_inc_below(2));
  EXPECT_EQ(g.value(), 2);
  g.sub(1);
  EXPECT_TRUE(g.try_inc_below(2));
}

}  // namespace
}  // namespace wsproxy::stats

namespace wsproxy::stats {
namespace {

TEST(HistogramTest, QuantilesAreWithinThreePercent) {
  Store store(2);
  Histogram& h = store.histogram("latency_ms");
  for (int i = 1; i <= 1000; ++i) h.record(i);
  auto s = h.summary();
  EXPECT_EQ(s.count, 1000u);
  EXPECT_NEAR(s.p50, 500, 500 * 0.03);
  EXPECT_NEAR(s.p90, 900, 900 * 0.03);
  EXPECT_NEAR(s.p99, 990, 990 * 0.03);
  EXPECT_NEAR(s.p999, 999, 999 * 0.03);
  EXPECT_DOUBLE_EQ(s.max, 1000);
  EXPECT_NEAR(s.sum, 500500, 1);
}

TEST(HistogramTest, EmptyAndTinyValues) {
  Store store(1);
  Histogram& h = store.histogram("x");
  EXPECT_EQ(h.summary().count, 0u);
  h.record(0);
  h.record(0.0001);
  auto s = h.summary();
  EXPECT_EQ(s.count, 2u);
  EXPECT_EQ(s.p50, 0);
  EXPECT_EQ(store.histogram_values().size(), 1u);
}

}  // namespace
}  // namespace wsproxy::stats

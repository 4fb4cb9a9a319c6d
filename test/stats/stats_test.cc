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

// Named counters and gauges. Counters are sharded per thread (one cache line
// per worker), so the data path increments them without contention; readers
// sum the shards. Stats live as long as the Store, so names survive reloads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace wsproxy::stats {

// Which shard the calling thread increments: 0 for the main thread, 1..N for
// workers. Set once when a thread starts.
void set_thread_shard(size_t shard);

class Counter {
 public:
  explicit Counter(size_t shards) : shards_(new Shard[shards]), shard_count_(shards) {}
  void inc(uint64_t n = 1);
  uint64_t value() const;

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> value{0};
  };
  std::unique_ptr<Shard[]> shards_;
  size_t shard_count_;
};

class Gauge {
 public:
  void add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void sub(int64_t n) { value_.fetch_sub(n, std::memory_order_relaxed); }
  // Adds one unless that would pass `limit`; true if added.
  bool try_inc_below(int64_t limit);
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Store {
 public:
  // `shards`: the number of threads that increment (workers + main).
  explicit Store(size_t shards) : shards_(shards) {}

  // The stat with this name, created on first use. References stay valid
  // for the Store's lifetime.
  Counter& counter(std::string_view name);
  Gauge& gauge(std::string_view name);

  std::vector<std::pair<std::string, uint64_t>> counter_values() const;
  std::vector<std::pair<std::string, int64_t>> gauge_values() const;

 private:
  const size_t shards_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Counter>, std::less<>> counters_;
  std::map<std::string, std::unique_ptr<Gauge>, std::less<>> gauges_;
};

}  // namespace wsproxy::stats

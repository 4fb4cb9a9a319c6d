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

// Recorded values (latencies) in log-spaced buckets 5% wide, sharded like
// counters; quantiles are read from the buckets (within about 3%).
class Histogram {
 public:
  explicit Histogram(size_t shards);
  // `value` >= 0, in the unit the stat's name says (e.g. _ms).
  void record(double value);

  struct Summary {
    uint64_t count = 0;
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, sum = 0;
  };
  Summary summary() const;

 private:
  static constexpr size_t kBuckets = 512;
  struct alignas(64) Shard {
    std::atomic<uint64_t> buckets[kBuckets];
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_micro{0};  // sum of value * 1e6
    std::atomic<uint64_t> max_micro{0};
    Shard();
  };
  std::unique_ptr<Shard[]> shards_;
  size_t shard_count_;
};

class Store {
 public:
  // `shards`: the number of threads that increment (workers + main).
  explicit Store(size_t shards) : shards_(shards) {}

  // The stat with this name, created on first use. References stay valid
  // for the Store's lifetime.
  Counter& counter(std::string_view name);
  Gauge& gauge(std::string_view name);
  Histogram& histogram(std::string_view name);

  // Sorted by name.
  std::vector<std::pair<std::string, uint64_t>> counter_values() const;
  std::vector<std::pair<std::string, int64_t>> gauge_values() const;
  std::vector<std::pair<std::string, Histogram::Summary>> histogram_values() const;

 private:
  const size_t shards_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Counter>, std::less<>> counters_;
  std::map<std::string, std::unique_ptr<Gauge>, std::less<>> gauges_;
  std::map<std::string, std::unique_ptr<Histogram>, std::less<>> histograms_;
};

}  // namespace wsproxy::stats

// Stats store implementation.
#include "source/stats/stats.h"

#include <algorithm>
#include <cmath>

namespace wsproxy::stats {
namespace {
thread_local size_t this_thread_shard = 0;
}  // namespace

void set_thread_shard(size_t shard) { this_thread_shard = shard; }

void Counter::inc(uint64_t n) {
  size_t shard = this_thread_shard < shard_count_ ? this_thread_shard : 0;
  shards_[shard].value.fetch_add(n, std::memory_order_relaxed);
}

uint64_t Counter::value() const {
  uint64_t sum = 0;
  for (size_t i = 0; i < shard_count_; ++i) sum += shards_[i].value.load(std::memory_order_relaxed);
  return sum;
}

bool Gauge::try_inc_below(int64_t limit) {
  if (value_.fetch_add(1, std::memory_order_relaxed) < limit) return true;
  value_.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

namespace {

// Bucket i holds values in [kMin * kGrowth^(i-1), kMin * kGrowth^i); bucket
// 0 holds everything below kMin.
constexpr double kMin = 0.001;
constexpr double kGrowth = 1.05;

size_t bucket_of(double value, size_t buckets) {
  if (!(value >= kMin)) return 0;
  size_t i = static_cast<size_t>(std::log(value / kMin) / std::log(kGrowth)) + 1;
  return std::min(i, buckets - 1);
}

// A value representing bucket i: its geometric middle.
double bucket_value(size_t i) {
  if (i == 0) return 0;
  return kMin * std::pow(kGrowth, static_cast<double>(i) - 0.5);
}

}  // namespace

Histogram::Shard::Shard() {
  for (auto& b : buckets) b.store(0, std::memory_order_relaxed);
}

Histogram::Histogram(size_t shards) : shards_(new Shard[shards]), shard_count_(shards) {}

void Histogram::record(double value) {
  Shard& shard = shards_[this_thread_shard < shard_count_ ? this_thread_shard : 0];
  shard.buckets[bucket_of(value, kBuckets)].fetch_add(1, std::memory_order_relaxed);
  shard.count.fetch_add(1, std::memory_order_relaxed);
  uint64_t micro = value > 0 ? static_cast<uint64_t>(value * 1e6) : 0;
  shard.sum_micro.fetch_add(micro, std::memory_order_relaxed);
  uint64_t seen = shard.max_micro.load(std::memory_order_relaxed);
  while (micro > seen && !shard.max_micro.compare_exchange_weak(seen, micro, std::memory_order_relaxed)) {
  }
}

Histogram::Summary Histogram::summary() const {
  std::vector<uint64_t> buckets(kBuckets, 0);
  Summary out;
  uint64_t max_micro = 0, sum_micro = 0;
  for (size_t s = 0; s < shard_count_; ++s) {
    for (size_t i = 0; i < kBuckets; ++i) buckets[i] += shards_[s].buckets[i].load(std::memory_order_relaxed);
    out.count += shards_[s].count.load(std::memory_order_relaxed);
    sum_micro += shards_[s].sum_micro.load(std::memory_order_relaxed);
    max_micro = std::max(max_micro, shards_[s].max_micro.load(std::memory_order_relaxed));
  }
  out.max = static_cast<double>(max_micro) / 1e6;
  out.sum = static_cast<double>(sum_micro) / 1e6;
  uint64_t total = 0;
  for (auto b : buckets) total += b;
  if (total == 0) return out;
  auto quantile = [&](double q) {
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets[i];
      if (seen >= rank && buckets[i] > 0) return std::min(bucket_value(i), out.max);
    }
    return out.max;
  };
  out.p50 = quantile(0.5);
  out.p90 = quantile(0.9);
  out.p99 = quantile(0.99);
  out.p999 = quantile(0.999);
  return out;
}

Counter& Store::counter(std::string_view name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = counters_.find(name);
  if (it == counters_.end()) {
    it = counters_.emplace(std::string(name), std::make_unique<Counter>(shards_)).first;
  }
  return *it->second;
}

Gauge& Store::gauge(std::string_view name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = gauges_.find(name);
  if (it == gauges_.end()) it = gauges_.emplace(std::string(name), std::make_unique<Gauge>()).first;
  return *it->second;
}

Histogram& Store::histogram(std::string_view name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = histograms_.find(name);
  if (it == histograms_.end()) {
    it = histograms_.emplace(std::string(name), std::make_unique<Histogram>(shards_)).first;
  }
  return *it->second;
}

std::vector<std::pair<std::string, Histogram::Summary>> Store::histogram_values() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, Histogram::Summary>> out;
  out.reserve(histograms_.size());
  for (const auto& [name, histogram] : histograms_) out.emplace_back(name, histogram->summary());
  return out;
}

std::vector<std::pair<std::string, uint64_t>> Store::counter_values() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(counters_.size());
  for (const auto& [name, counter] : counters_) out.emplace_back(name, counter->value());
  return out;
}

std::vector<std::pair<std::string, int64_t>> Store::gauge_values() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(gauges_.size());
  for (const auto& [name, gauge] : gauges_) out.emplace_back(name, gauge->value());
  return out;
}

}  // namespace wsproxy::stats

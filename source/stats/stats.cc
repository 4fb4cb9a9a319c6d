// Stats store implementation.
#include "source/stats/stats.h"

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

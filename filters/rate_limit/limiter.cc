// Per-key connection limits.
#include "filters/rate_limit/limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace wsproxy::filters::rate_limit {

Limiter::Limiter(LimiterSettings settings, stats::Gauge& keys)
    : settings_(settings), keys_per_shard_(std::max<std::size_t>(1, (settings.max_keys + kShards - 1) / kShards)),
      keys_(keys) {}

void Limiter::refill(Entry& entry, Clock::time_point now) const {
  if (settings_.rate_per_second <= 0) return;
  double elapsed = std::chrono::duration<double>(now - entry.refilled).count();
  if (elapsed <= 0) return;
  entry.tokens = std::min<double>(settings_.burst, entry.tokens + elapsed * settings_.rate_per_second);
  entry.refilled = now;
}

bool Limiter::is_idle(const Entry& entry) const {
  return entry.open == 0 && (settings_.rate_per_second <= 0 || entry.tokens >= settings_.burst);
}

std::size_t Limiter::sweep(Shard& shard, Clock::time_point now) {
  std::size_t dropped = 0;
  for (auto it = shard.entries.begin(); it != shard.entries.end();) {
    refill(it->second, now);
    if (is_idle(it->second)) {
      it = shard.entries.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  keys_.sub(static_cast<int64_t>(dropped));
  return dropped;
}

Limiter::Admission Limiter::admit(const std::string& key, Clock::time_point now) {
  Shard& shard = shards_[std::hash<std::string>()(key) % kShards];
  std::lock_guard<std::mutex> lock(shard.mutex);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    if (shard.entries.size() >= keys_per_shard_ && sweep(shard, now) == 0) {
      return {Outcome::too_many_keys, 1};
    }
    it = shard.entries.emplace(key, Entry{static_cast<double>(settings_.burst), now}).first;
    keys_.add(1);
  }
  Entry& entry = it->second;
  refill(entry, now);
  if (settings_.max_concurrent > 0 && entry.open >= settings_.max_concurrent) return {Outcome::concurrent, 1};
  if (settings_.rate_per_second > 0) {
    if (entry.tokens < 1) {
      double wait = (1 - entry.tokens) / settings_.rate_per_second;
      return {Outcome::rate, static_cast<uint32_t>(std::max(1.0, std::ceil(wait)))};
    }
    entry.tokens -= 1;
  }
  if (settings_.max_concurrent > 0) ++entry.open;
  return {Outcome::admitted};
}

void Limiter::release(const std::string& key) {
  Shard& shard = shards_[std::hash<std::string>()(key) % kShards];
  std::lock_guard<std::mutex> lock(shard.mutex);
  auto it = shard.entries.find(key);
  if (it != shard.entries.end() && it->second.open > 0) --it->second.open;
}

}  // namespace wsproxy::filters::rate_limit

// Per-key connection limits shared by every worker: a token bucket for new
// connections and a count of open ones. Keys are spread over shards, each
// behind its own mutex, taken once when a connection is admitted and once
// when it ends (never per message). Memory is bounded by max_keys.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "source/stats/stats.h"

namespace wsproxy::filters::rate_limit {

struct LimiterSettings {
  double rate_per_second = 0;  // 0: no rate limit
  uint32_t burst = 0;
  uint32_t max_concurrent = 0;  // 0: no limit
  uint32_t max_keys = 100000;
};

class Limiter {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Outcome { admitted, rate, concurrent, too_many_keys };
  struct Admission {
    Outcome outcome;
    uint32_t retry_after_seconds = 0;  // for denials
  };

  Limiter(LimiterSettings settings, stats::Gauge& keys);

  // Admits a new connection for `key` at `now`, or says why not. An
  // admitted connection must be released when it ends.
  Admission admit(const std::string& key, Clock::time_point now);
  void release(const std::string& key);
  bool tracks_open_connections() const { return settings_.max_concurrent > 0; }

 private:
  struct Entry {
    double tokens;
    Clock::time_point refilled;
    uint32_t open = 0;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry> entries;
  };
  static constexpr std::size_t kShards = 16;

  void refill(Entry& entry, Clock::time_point now) const;
  bool is_idle(const Entry& entry) const;
  // Drops the shard's idle entries; returns how many.
  std::size_t sweep(Shard& shard, Clock::time_point now);

  const LimiterSettings settings_;
  const std::size_t keys_per_shard_;
  stats::Gauge& keys_;
  std::array<Shard, kShards> shards_;
};

}  // namespace wsproxy::filters::rate_limit

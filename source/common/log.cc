// Process log implementation.
#include "source/common/log.h"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <string>

namespace wsproxy::log {
namespace {

std::atomic<Level> min_level{Level::info};

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "?";
}

}  // namespace

void set_min_level(Level level) { min_level.store(level, std::memory_order_relaxed); }

bool enabled(Level level) { return level >= min_level.load(std::memory_order_relaxed); }

void format_now(char (&out)[32]) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  size_t n = strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(out + n, sizeof(out) - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  char now[32];
  format_now(now);
  std::string line;
  line.reserve(message.size() + 48);
  line.append(now).append(" ").append(level_name(level)).append(" ").append(message).append("\n");
  // A failed write to stderr has nowhere to be reported; the line is dropped.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace wsproxy::log

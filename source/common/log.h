// Process log: one line per event on standard error, written with a single
// write(2) so lines from different workers never interleave.
#pragma once

#include <string_view>

namespace wsproxy::log {

enum class Level { debug, info, warn, error };

// Lines below this level are dropped. Default: info.
void set_min_level(Level level);
bool enabled(Level level);

void write(Level level, std::string_view message);

inline void debug(std::string_view m) { if (enabled(Level::debug)) write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }
inline void error(std::string_view m) { write(Level::error, m); }

// UTC time as RFC 3339 with milliseconds, e.g. 2026-11-26T10:19:23.123Z.
void format_now(char (&out)[32]);

}  // namespace wsproxy::log

// Minimal JSON text helpers for log lines.
#pragma once

#include <string>
#include <string_view>

namespace wsproxy::json {

// Appends `value` as a quoted JSON string (control characters and invalid
// UTF-8 bytes escaped as \u00XX), so untrusted input cannot break a line.
void append_string(std::string& out, std::string_view value);

}  // namespace wsproxy::json

// Hexadecimal digits, for the few places that read them (percent-encoding,
// OpenSSL's key log lines).
#pragma once

namespace wsproxy::common {

// The value of a hex digit (either case), or -1.
inline int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace wsproxy::common

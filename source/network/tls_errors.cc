// OpenSSL error text.
#include "source/network/tls_errors.h"

#include <openssl/err.h>

namespace wsproxy::network {

std::string take_tls_error_text() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(code);
    if (reason != nullptr) {
      out += reason;
    } else {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof(buf));
      out += buf;
    }
  }
  return out.empty() ? "unknown TLS error" : out;
}

}  // namespace wsproxy::network

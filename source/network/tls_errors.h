// OpenSSL's thread-local error queue as text.
#pragma once

#include <string>

namespace wsproxy::network {

// The queued OpenSSL errors joined into one line, and the queue cleared.
std::string take_tls_error_text();

}  // namespace wsproxy::network

// TLS server names (SNI) and the patterns that match them.
#pragma once

#include <string_view>

namespace wsproxy {

// "chat.example.com", or a wildcard "*.example.com" standing for any name
// with at least one more label.
bool is_valid_server_name_pattern(std::string_view pattern);

// Case-insensitive; "*.example.com" matches "a.example.com" and
// "a.b.example.com" but not "example.com".
bool server_name_matches(std::string_view pattern, std::string_view name);

}  // namespace wsproxy

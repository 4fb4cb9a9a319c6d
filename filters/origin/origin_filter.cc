// The origin filter.
#include "filters/origin/origin_filter.h"

namespace wsproxy::filters::origin {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

uint32_t default_port(std::string_view scheme) {
  if (scheme == "https" || scheme == "wss") return 443;
  if (scheme == "http" || scheme == "ws") return 80;
  return 0;
}

bool is_scheme(std::string_view s) {
  if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
              c == '.';
    if (!ok) return false;
  }
  return true;
}

// A DNS name, an IPv4 address, or an IPv6 address in brackets.
bool is_host(std::string_view h) {
  if (h.empty()) return false;
  if (h.front() == '[') {
    if (h.back() != ']' || h.size() < 4) return false;
    for (char c : h.substr(1, h.size() - 2)) {
      bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
      if (!ok) return false;
    }
    return true;
  }
  if (h.front() == '.' || h.back() == '.' || h.find("..") != std::string_view::npos) return false;
  for (char c : h) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_';
    if (!ok) return false;
  }
  return true;
}

filter::Denial deny(std::string reason, std::string message) {
  return filter::Denial{403, std::move(reason), std::move(message), {}};
}

}  // namespace

std::optional<OriginValue> parse_origin(std::string_view text, bool pattern) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos || !is_scheme(text.substr(0, sep))) return std::nullopt;
  OriginValue out;
  out.scheme = lower(text.substr(0, sep));
  std::string_view authority = text.substr(sep + 3);
  // Serialized origins have no path, query, fragment or user info.
  if (authority.find_first_of("/?#@") != std::string_view::npos) return std::nullopt;
  std::string_view host = authority;
  std::string_view port;
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5) return std::nullopt;
  }
  if (pattern && host.substr(0, 2) == "*.") {
    out.wildcard = true;
    host.remove_prefix(2);
  }
  if (!is_host(host)) return std::nullopt;
  out.host = lower(host);
  if (port.empty()) {
    out.port = default_port(out.scheme);
  } else {
    for (char c : port) {
      if (c < '0' || c > '9') return std::nullopt;
      out.port = out.port * 10 + static_cast<uint32_t>(c - '0');
    }
    if (out.port == 0 || out.port > 65535) return std::nullopt;
  }
  return out;
}

std::optional<OriginPolicy> OriginPolicy::create(const v1::Origin& config, const config::FieldScope& scope) {
  OriginPolicy policy;
  policy.deny_missing_ = config.deny_missing();
  bool ok = true;
  for (const auto& entry : config.allowed_origins()) {
    if (entry == "null") {
      policy.allow_null_ = true;
      continue;
    }
    auto parsed = parse_origin(entry, true);
    if (!parsed) {
      scope.error("allowed_origins", "\"" + entry + "\" is not an origin: write scheme://host or scheme://host:port, "
                                                    "optionally with a *. wildcard first label, and no path");
      ok = false;
      continue;
    }
    policy.allowed_.push_back(std::move(*parsed));
  }
  if (config.allowed_origins().empty()) {
    scope.error("allowed_origins", "list at least one origin");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return policy;
}

bool OriginPolicy::allows(const OriginValue& origin) const {
  for (const auto& allowed : allowed_) {
    if (allowed.scheme != origin.scheme || allowed.port != origin.port) continue;
    if (!allowed.wildcard && allowed.host == origin.host) return true;
    if (allowed.wildcard && origin.host.size() > allowed.host.size() + 1 &&
        origin.host.compare(origin.host.size() - allowed.host.size(), allowed.host.size(), allowed.host) == 0 &&
        origin.host[origin.host.size() - allowed.host.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

filter::Verdict OriginPolicy::check(const http::HeaderMap& headers) const {
  std::size_t count = headers.count("origin");
  if (count == 0) {
    if (deny_missing_) return deny("missing", "an Origin header is required");
    return std::nullopt;
  }
  if (count > 1) return deny("multiple", "more than one Origin header");
  const std::string& value = *headers.get("origin");
  if (value == "null") {
    if (allow_null_) return std::nullopt;
    return deny("null", "the null origin is not allowed");
  }
  auto origin = parse_origin(value, false);
  if (!origin) return deny("malformed", "the Origin header is not a valid origin");
  if (!allows(*origin)) return deny("not_allowed", "origin not allowed");
  return std::nullopt;
}

filter::Verdict OriginFilter::on_request(filter::RequestContext& context) {
  return policy_.check(context.request.headers);
}

}  // namespace wsproxy::filters::origin

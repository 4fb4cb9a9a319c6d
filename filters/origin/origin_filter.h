// The origin filter: allows a WebSocket upgrade only from listed browser
// origins (RFC 6454 serialized origins, with *.wildcard subdomains).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "source/config/errors.h"
#include "source/filter/filter.h"
#include "wsproxy/filters/origin/v1/origin.pb.h"

namespace wsproxy::filters::origin {

// A parsed origin, or an allowed-origin pattern: scheme and host in lower
// case, the port always explicit (the scheme's default when not written).
struct OriginValue {
  std::string scheme;
  std::string host;  // for a pattern with a wildcard: the part after "*."
  uint32_t port = 0;
  bool wildcard = false;
};

// Parses "scheme://host[:port]"; a pattern may also start its host with
// "*.". Nothing if malformed (a path, user info, a bad port...).
std::optional<OriginValue> parse_origin(std::string_view text, bool pattern);

class OriginPolicy {
 public:
  // Reports every bad entry to `scope` and returns nothing if any.
  static std::optional<OriginPolicy> create(const v1::Origin& config, const config::FieldScope& scope);

  // Nothing if the request's Origin is allowed, else the 403 to answer.
  filter::Verdict check(const http::HeaderMap& headers) const;

 private:
  bool allows(const OriginValue& origin) const;

  std::vector<OriginValue> allowed_;
  bool allow_null_ = false;
  bool deny_missing_ = false;
};

class OriginFilter : public filter::Filter {
 public:
  explicit OriginFilter(const OriginPolicy& policy) : policy_(policy) {}
  filter::Verdict on_request(filter::RequestContext& context) override;

 private:
  const OriginPolicy& policy_;
};

}  // namespace wsproxy::filters::origin

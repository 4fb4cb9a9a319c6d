// The rate_limit filter.
#include "filters/rate_limit/rate_limit_filter.h"

#include <cmath>
#include <string_view>
#include <vector>

#include "source/http/upgrade.h"

namespace wsproxy::filters::rate_limit {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// The Nth X-Forwarded-For entry from the right, over all such fields.
std::optional<std::string> forwarded_for_entry(const http::HeaderMap& headers, uint32_t index) {
  std::vector<std::string_view> entries;
  for (const auto& h : headers) {
    if (!http::iequals(h.name, "x-forwarded-for")) continue;
    std::string_view rest = h.value;
    while (true) {
      auto comma = rest.find(',');
      entries.push_back(trim(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (index == 0 || entries.size() < index || entries[entries.size() - index].empty()) return std::nullopt;
  return std::string(entries[entries.size() - index]);
}

}  // namespace

bool KeySource::known_at_connect() const {
  return key_.source_case() == v1::Key::SOURCE_NOT_SET ||
         (key_.source_case() == v1::Key::kClientAddress && key_.client_address().forwarded_for_index() == 0);
}

std::string KeySource::key_for(const filter::ConnectionInfo& connection, const filter::Attributes& attributes,
                               const http::RequestHead* request) const {
  // Address keys and value keys never collide; a missing value falls back
  // to the address, so clients without it do not share one bucket.
  std::string address_key = "address:" + std::string(connection.client_ip);
  if (request == nullptr) return address_key;
  switch (key_.source_case()) {
    case v1::Key::kClientAddress:
      if (auto entry = forwarded_for_entry(request->headers, key_.client_address().forwarded_for_index())) {
        return "address:" + *entry;
      }
      return address_key;
    case v1::Key::kHeader:
      if (const std::string* value = request->headers.get(key_.header())) return "value:" + *value;
      return address_key;
    case v1::Key::kJwtClaim:
      if (const std::string* value = attributes.get("jwt.claim." + key_.jwt_claim())) return "value:" + *value;
      return address_key;
    case v1::Key::kPath:
      return "value:" + std::string(http::target_path(request->target));
    case v1::Key::SOURCE_NOT_SET:
      return address_key;
  }
  return address_key;
}

filter::Verdict RateLimitFilter::admit(std::string key) {
  Limiter::Admission admission = limiter_->admit(key, Limiter::Clock::now());
  if (admission.outcome == Limiter::Outcome::admitted) {
    if (limiter_->tracks_open_connections()) held_ = std::move(key);
    return std::nullopt;
  }
  const char* reason = admission.outcome == Limiter::Outcome::rate         ? "rate"
                       : admission.outcome == Limiter::Outcome::concurrent ? "concurrent"
                                                                           : "too_many_keys";
  const char* message = admission.outcome == Limiter::Outcome::rate ? "too many new connections; retry later"
                        : admission.outcome == Limiter::Outcome::concurrent
                            ? "too many open connections"
                            : "rate limiter is full; retry later";
  return filter::Denial{429, reason, message, {{"Retry-After", std::to_string(admission.retry_after_seconds)}}};
}

filter::Verdict RateLimitFilter::on_connect(filter::ConnectContext& context) {
  if (!key_.known_at_connect()) return std::nullopt;
  return admit(key_.key_for(context.connection, context.attributes, nullptr));
}

filter::Verdict RateLimitFilter::on_request(filter::RequestContext& context) {
  if (key_.known_at_connect()) return std::nullopt;
  return admit(key_.key_for(context.connection, context.attributes, &context.request));
}

void RateLimitFilter::on_close() {
  if (held_) limiter_->release(*held_);
}

bool validate(const v1::RateLimit& config, const config::FieldScope& scope) {
  bool ok = true;
  if (!config.has_new_connections() && config.max_concurrent() == 0) {
    scope.error("give new_connections, max_concurrent or both");
    ok = false;
  }
  if (config.has_new_connections()) {
    auto bucket = scope.child("new_connections");
    double rate = config.new_connections().rate_per_second();
    if (!(rate > 0) || !std::isfinite(rate)) {
      bucket.error("rate_per_second", "must be more than 0");
      ok = false;
    }
    if (config.new_connections().burst() == 0) {
      bucket.error("burst", "must be at least 1");
      ok = false;
    }
  }
  if (config.has_max_keys() && config.max_keys() == 0) {
    scope.error("max_keys", "must be at least 1");
    ok = false;
  }
  const auto& key = config.key();
  if (key.source_case() == v1::Key::kHeader && key.header().empty()) {
    scope.child("key").error("header", "name the header");
    ok = false;
  }
  if (key.source_case() == v1::Key::kJwtClaim && key.jwt_claim().empty()) {
    scope.child("key").error("jwt_claim", "name the claim");
    ok = false;
  }
  if (key.source_case() == v1::Key::kPath && !key.path()) {
    scope.child("key").error("path", "set it to true, or choose another key");
    ok = false;
  }
  return ok;
}

LimiterSettings settings_of(const v1::RateLimit& config) {
  LimiterSettings settings;
  if (config.has_new_connections()) {
    settings.rate_per_second = config.new_connections().rate_per_second();
    settings.burst = config.new_connections().burst();
  }
  settings.max_concurrent = config.max_concurrent();
  if (config.has_max_keys()) settings.max_keys = config.max_keys();
  return settings;
}

}  // namespace wsproxy::filters::rate_limit

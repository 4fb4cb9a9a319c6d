// The rate_limit filter: per-key limits on new and open connections.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "filters/rate_limit/limiter.h"
#include "source/config/errors.h"
#include "source/filter/filter.h"
#include "wsproxy/filters/rate_limit/v1/rate_limit.pb.h"

namespace wsproxy::filters::rate_limit {

// Where a connection's key comes from.
class KeySource {
 public:
  explicit KeySource(const v1::Key& key) : key_(key) {}
  // True when the key is known before the request is read (the peer's
  // address), so the limit applies at on_connect.
  bool known_at_connect() const;
  std::string key_for(const filter::ConnectionInfo& connection, const filter::Attributes& attributes,
                      const http::RequestHead* request) const;

 private:
  v1::Key key_;
};

class RateLimitFilter : public filter::Filter {
 public:
  RateLimitFilter(std::shared_ptr<Limiter> limiter, const KeySource& key) : limiter_(std::move(limiter)), key_(key) {}
  filter::Verdict on_connect(filter::ConnectContext& context) override;
  filter::Verdict on_request(filter::RequestContext& context) override;
  void on_close() override;

 private:
  filter::Verdict admit(std::string key);

  std::shared_ptr<Limiter> limiter_;
  const KeySource& key_;
  std::optional<std::string> held_;  // the key whose open count this connection holds
};

// Checks the config; reports problems to `scope`. True if valid.
bool validate(const v1::RateLimit& config, const config::FieldScope& scope);
LimiterSettings settings_of(const v1::RateLimit& config);

}  // namespace wsproxy::filters::rate_limit

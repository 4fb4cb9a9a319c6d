// Registers the rate_limit filter under wsproxy.filters.rate_limit.v1.RateLimit.
#include "filters/rate_limit/rate_limit_filter.h"
#include "source/filter/registry.h"

namespace wsproxy::filters::rate_limit {
namespace {

class RateLimitFactory : public filter::FilterFactory {
 public:
  RateLimitFactory(const v1::RateLimit& config, stats::Gauge& keys)
      : limiter_(std::make_shared<Limiter>(settings_of(config), keys)), key_(config.key()) {}
  std::unique_ptr<filter::Filter> create_filter() const override {
    return std::make_unique<RateLimitFilter>(limiter_, key_);
  }

 private:
  std::shared_ptr<Limiter> limiter_;
  KeySource key_;
};

class RateLimitConfigFactory : public filter::FilterConfigFactory {
 public:
  std::string_view config_type() const override { return "wsproxy.filters.rate_limit.v1.RateLimit"; }
  std::shared_ptr<const filter::FilterFactory> create(const google::protobuf::Message& config,
                                                      filter::FactoryContext& context) const override {
    const auto& rate_limit = static_cast<const v1::RateLimit&>(config);
    if (!validate(rate_limit, context.scope)) return nullptr;
    return std::make_shared<RateLimitFactory>(rate_limit, context.stats.gauge(context.stats_prefix + "keys"));
  }
};

WSPROXY_REGISTER_FILTER(RateLimitConfigFactory);

}  // namespace
}  // namespace wsproxy::filters::rate_limit

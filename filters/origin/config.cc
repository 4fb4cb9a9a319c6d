// Registers the origin filter under wsproxy.filters.origin.v1.Origin.
#include "filters/origin/origin_filter.h"
#include "source/filter/registry.h"

namespace wsproxy::filters::origin {
namespace {

class OriginFactory : public filter::FilterFactory {
 public:
  explicit OriginFactory(OriginPolicy policy) : policy_(std::move(policy)) {}
  std::unique_ptr<filter::Filter> create_filter() const override { return std::make_unique<OriginFilter>(policy_); }

 private:
  OriginPolicy policy_;
};

class OriginConfigFactory : public filter::FilterConfigFactory {
 public:
  std::string_view config_type() const override { return "wsproxy.filters.origin.v1.Origin"; }
  std::shared_ptr<const filter::FilterFactory> create(const google::protobuf::Message& config,
                                                      filter::FactoryContext& context) const override {
    auto policy = OriginPolicy::create(static_cast<const v1::Origin&>(config), context.scope);
    if (!policy) return nullptr;
    return std::make_shared<OriginFactory>(std::move(*policy));
  }
};

WSPROXY_REGISTER_FILTER(OriginConfigFactory);

}  // namespace
}  // namespace wsproxy::filters::origin

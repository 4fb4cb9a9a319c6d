// Registers the header_rewrite filter under
// wsproxy.filters.header_rewrite.v1.HeaderRewrite.
#include "filters/header_rewrite/header_rewrite_filter.h"
#include "source/filter/registry.h"

namespace wsproxy::filters::header_rewrite {
namespace {

class HeaderRewriteFactory : public filter::FilterFactory {
 public:
  explicit HeaderRewriteFactory(Rewrites rewrites) : rewrites_(std::move(rewrites)) {}
  std::unique_ptr<filter::Filter> create_filter() const override {
    return std::make_unique<HeaderRewriteFilter>(rewrites_);
  }

 private:
  Rewrites rewrites_;
};

class HeaderRewriteConfigFactory : public filter::FilterConfigFactory {
 public:
  std::string_view config_type() const override { return "wsproxy.filters.header_rewrite.v1.HeaderRewrite"; }
  std::shared_ptr<const filter::FilterFactory> create(const google::protobuf::Message& config,
                                                      filter::FactoryContext& context) const override {
    auto rewrites = Rewrites::create(static_cast<const v1::HeaderRewrite&>(config), context.scope,
                                     context.stats.counter(context.stats_prefix + "invalid_value"));
    if (!rewrites) return nullptr;
    return std::make_shared<HeaderRewriteFactory>(std::move(*rewrites));
  }
};

WSPROXY_REGISTER_FILTER(HeaderRewriteConfigFactory);

}  // namespace
}  // namespace wsproxy::filters::header_rewrite

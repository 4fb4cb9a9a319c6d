// Registers the jwt_authn filter under wsproxy.filters.jwt_authn.v1.JwtAuthn.
#include "filters/jwt_authn/jwt_authn_filter.h"
#include "source/filter/registry.h"

namespace wsproxy::filters::jwt_authn {
namespace {

class JwtAuthnFactory : public filter::FilterFactory {
 public:
  explicit JwtAuthnFactory(Authenticator authenticator) : authenticator_(std::move(authenticator)) {
    authenticator_.start();
  }
  std::unique_ptr<filter::Filter> create_filter() const override {
    return std::make_unique<JwtAuthnFilter>(authenticator_);
  }

 private:
  Authenticator authenticator_;
};

class JwtAuthnConfigFactory : public filter::FilterConfigFactory {
 public:
  std::string_view config_type() const override { return "wsproxy.filters.jwt_authn.v1.JwtAuthn"; }
  std::shared_ptr<const filter::FilterFactory> create(const google::protobuf::Message& config,
                                                      filter::FactoryContext& context) const override {
    auto authenticator = Authenticator::create(static_cast<const v1::JwtAuthn&>(config), context.config,
                                               context.scope, context.stats, context.stats_prefix);
    if (!authenticator) return nullptr;
    return std::make_shared<JwtAuthnFactory>(std::move(*authenticator));
  }
};

WSPROXY_REGISTER_FILTER(JwtAuthnConfigFactory);

}  // namespace
}  // namespace wsproxy::filters::jwt_authn

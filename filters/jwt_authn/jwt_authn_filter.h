// The jwt_authn filter: authenticates the WebSocket upgrade with a JWT
// found in a header, the query, a cookie or the subprotocol list, passes
// verified claims on (as headers and as attributes for later filters), and
// can end the connection when the token expires.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "filters/jwt_authn/jwks_fetcher.h"
#include "filters/jwt_authn/jwt.h"
#include "source/filter/filter.h"
#include "wsproxy/filters/jwt_authn/v1/jwt_authn.pb.h"

namespace wsproxy::filters::jwt_authn {

struct Provider {
  std::string name;
  ClaimRules rules;
  std::vector<v1::TokenLocation> locations;
  std::vector<v1::ClaimToHeader> claims_to_headers;
  bool close_on_expiry = true;
  std::shared_ptr<const KeySet> static_keys;
  std::shared_ptr<JwksFetcher> remote;

  std::shared_ptr<const KeySet> keys() const { return remote ? remote->keys() : static_keys; }
};

// A token found in a request, and where.
struct FoundToken {
  std::string token;
  const Provider* provider;  // whose location found it
  const v1::TokenLocation* location;
};

class Authenticator {
 public:
  // Reports every problem to `scope` (the JwtAuthn message); nothing if any.
  static std::optional<Authenticator> create(const v1::JwtAuthn& config, const config::LoadedConfig& loaded,
                                             const config::FieldScope& scope, stats::Store& store,
                                             const std::string& stats_prefix);

  // Checks the request at `now` (seconds since the epoch); on success
  // changes it as configured (token removed, claims forwarded).
  filter::Verdict authenticate(filter::RequestContext& context, double now) const;

  // Starts background key fetching.
  void start() const;

 private:
  v1::Requirement requirement_for(std::string_view path) const;
  std::optional<FoundToken> find_token(const http::RequestHead& request) const;

  std::vector<Provider> providers_;
  std::vector<std::pair<std::string, v1::Requirement>> rules_;
};

class JwtAuthnFilter : public filter::Filter {
 public:
  explicit JwtAuthnFilter(const Authenticator& authenticator) : authenticator_(authenticator) {}
  filter::Verdict on_request(filter::RequestContext& context) override;

 private:
  const Authenticator& authenticator_;
};

// Removes the token from where it was found, when that location says so
// (the subprotocol entry always; the query parameter when `remove`).
void remove_token(http::RequestHead& request, const FoundToken& found);

}  // namespace wsproxy::filters::jwt_authn

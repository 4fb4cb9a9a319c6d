// The jwt_authn filter.
#include "filters/jwt_authn/jwt_authn_filter.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "source/common/hex.h"
#include "source/config/duration.h"
#include "source/http/upgrade.h"

namespace wsproxy::filters::jwt_authn {
namespace {

constexpr std::string_view kDefaultMarker = "access_token";
constexpr std::string_view kKubernetesPrefixes[] = {"base64url.bearer.authorization.k8s.io.",
                                                    "base64url.bearer.authorization."};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    int high = i + 2 < s.size() ? common::hex_digit_value(s[i + 1]) : -1;
    int low = i + 2 < s.size() ? common::hex_digit_value(s[i + 2]) : -1;
    if (s[i] == '%' && high >= 0 && low >= 0) {
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// The query's parameters as (raw pair, decoded name, decoded value).
struct QueryParameter {
  std::string_view raw;
  std::string name;
  std::string value;
};

std::vector<QueryParameter> query_parameters(std::string_view target) {
  std::vector<QueryParameter> out;
  auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    out.push_back({pair, percent_decode(pair.substr(0, eq)),
                   eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1))});
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::string_view marker_of(const v1::SubprotocolToken& s) {
  return s.marker().empty() ? kDefaultMarker : std::string_view(s.marker());
}

// The token in the subprotocol list, and the index of its entry.
std::optional<std::pair<std::string, std::size_t>> subprotocol_token(const http::HeaderMap& headers,
                                                                     const v1::SubprotocolToken& s) {
  auto entries = headers.tokens("sec-websocket-protocol");
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i] == marker_of(s) && i + 1 < entries.size()) return std::make_pair(std::string(entries[i + 1]), i + 1);
    if (s.kubernetes_form()) {
      for (auto prefix : kKubernetesPrefixes) {
        if (entries[i].substr(0, prefix.size()) == prefix) {
          std::string token;
          if (base64url_decode(entries[i].substr(prefix.size()), token)) return std::make_pair(token, i);
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> token_at(const http::RequestHead& request, const v1::TokenLocation& location) {
  const http::HeaderMap& h = request.headers;
  switch (location.location_case()) {
    case v1::TokenLocation::kAuthorizationBearer: {
      const std::string* value = h.get("authorization");
      if (value == nullptr || value->size() < 7 || !http::iequals(std::string_view(*value).substr(0, 7), "bearer ")) {
        return std::nullopt;
      }
      std::string_view token = trim(std::string_view(*value).substr(7));
      if (token.empty()) return std::nullopt;
      return std::string(token);
    }
    case v1::TokenLocation::kHeader: {
      const std::string* value = h.get(location.header());
      if (value == nullptr || value->empty()) return std::nullopt;
      return *value;
    }
    case v1::TokenLocation::kQueryParameter:
      for (const auto& p : query_parameters(request.target)) {
        if (p.name == location.query_parameter().name() && !p.value.empty()) return p.value;
      }
      return std::nullopt;
    case v1::TokenLocation::kCookie:
      for (const auto& field : h) {
        if (!http::iequals(field.name, "cookie")) continue;
        std::string_view rest = field.value;
        while (!rest.empty()) {
          auto semi = rest.find(';');
          std::string_view pair = trim(rest.substr(0, semi));
          auto eq = pair.find('=');
          if (eq != std::string_view::npos && pair.substr(0, eq) == location.cookie() && eq + 1 < pair.size()) {
            return std::string(pair.substr(eq + 1));
          }
          if (semi == std::string_view::npos) break;
          rest.remove_prefix(semi + 1);
        }
      }
      return std::nullopt;
    case v1::TokenLocation::kSubprotocol:
      if (auto found = subprotocol_token(h, location.subprotocol())) return found->first;
      return std::nullopt;
    case v1::TokenLocation::LOCATION_NOT_SET:
      return std::nullopt;
  }
  return std::nullopt;
}

filter::Denial deny(Failure failure, const std::string& provider) {
  std::string reason = failure_reason(failure);
  std::string challenge = failure == Failure::missing
                              ? "Bearer realm=\"wsproxy\""
                              : "Bearer realm=\"wsproxy\", error=\"invalid_token\", error_description=\"" + reason + "\"";
  std::string message = failure == Failure::missing ? "a bearer token is required"
                                                    : "the token was refused (" + reason + ")";
  (void)provider;
  return filter::Denial{401, reason, message, {{"WWW-Authenticate", challenge}}};
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

bool is_token(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string("!#$%&'*+-.^_`|~").find(c) != std::string::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void remove_token(http::RequestHead& request, const FoundToken& found) {
  const v1::TokenLocation& location = *found.location;
  if (location.location_case() == v1::TokenLocation::kSubprotocol) {
    auto where = subprotocol_token(request.headers, location.subprotocol());
    if (!where) return;
    auto entries = request.headers.tokens("sec-websocket-protocol");
    std::string kept;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (i == where->second) continue;
      kept += (kept.empty() ? "" : ", ") + std::string(entries[i]);
    }
    if (kept.empty()) {
      request.headers.remove("sec-websocket-protocol");
    } else {
      request.headers.set("Sec-WebSocket-Protocol", std::move(kept));
    }
  } else if (location.location_case() == v1::TokenLocation::kQueryParameter && location.query_parameter().remove()) {
    std::string_view target = request.target;
    std::string path(http::target_path(target));
    std::string query;
    for (const auto& p : query_parameters(target)) {
      if (p.name == location.query_parameter().name()) continue;
      query += (query.empty() ? "" : "&") + std::string(p.raw);
    }
    request.target = query.empty() ? path : path + "?" + query;
  }
}

std::optional<Authenticator> Authenticator::create(const v1::JwtAuthn& config, const config::LoadedConfig& loaded,
                                                   const config::FieldScope& scope, stats::Store& store,
                                                   const std::string& stats_prefix) {
  Authenticator out;
  bool ok = true;
  if (config.providers().empty()) {
    scope.error("providers", "give at least one provider");
    ok = false;
  }
  for (int i = 0; i < config.providers_size(); ++i) {
    const auto& p = config.providers(i);
    auto ps = scope.child("providers", i);
    Provider provider;
    provider.name = p.name().empty() ? "provider" + std::to_string(i) : p.name();
    provider.rules.issuer = p.issuer();
    provider.rules.audiences.assign(p.audiences().begin(), p.audiences().end());
    if (p.has_clock_skew()) {
      if (!config::is_valid_non_negative(p.clock_skew())) {
        ps.error("clock_skew", "must be a non-negative duration");
        ok = false;
      }
      provider.rules.clock_skew_seconds = p.clock_skew().seconds();
    }
    for (const auto& [claim, value] : p.required_claims()) provider.rules.required.emplace_back(claim, value);
    provider.close_on_expiry = p.on_expiry() != v1::EXPIRY_ACTION_IGNORE;
    provider.locations.assign(p.token_locations().begin(), p.token_locations().end());
    if (provider.locations.empty()) {
      v1::TokenLocation bearer;
      bearer.set_authorization_bearer(true);
      provider.locations.push_back(bearer);
    }
    for (int j = 0; j < p.token_locations_size(); ++j) {
      const auto& l = p.token_locations(j);
      auto ls = ps.child("token_locations", j);
      if (l.location_case() == v1::TokenLocation::LOCATION_NOT_SET ||
          (l.location_case() == v1::TokenLocation::kAuthorizationBearer && !l.authorization_bearer())) {
        ls.error("give one of authorization_bearer: true, header, query_parameter, cookie or subprotocol");
        ok = false;
      } else if ((l.location_case() == v1::TokenLocation::kHeader && !is_token(l.header())) ||
                 (l.location_case() == v1::TokenLocation::kCookie && l.cookie().empty()) ||
                 (l.location_case() == v1::TokenLocation::kQueryParameter && l.query_parameter().name().empty())) {
        ls.error("name the header, cookie or query parameter");
        ok = false;
      }
    }
    for (int j = 0; j < p.claims_to_headers_size(); ++j) {
      const auto& c = p.claims_to_headers(j);
      if (c.claim().empty() || !is_token(c.header())) {
        ps.child("claims_to_headers", j).error("give a claim and a header name");
        ok = false;
      }
    }
    provider.claims_to_headers.assign(p.claims_to_headers().begin(), p.claims_to_headers().end());
    std::string error, skipped;
    switch (p.keys_case()) {
      case v1::Provider::kLocalJwks:
        provider.static_keys = parse_jwks(p.local_jwks(), error, &skipped);
        if (!provider.static_keys) {
          ps.error("local_jwks", "the JWKS " + error);
          ok = false;
        }
        break;
      case v1::Provider::kJwksFile: {
        std::string path = loaded.resolve_path(p.jwks_file()), text;
        if (!read_file(path, text)) {
          ps.error("jwks_file", "cannot read \"" + path + "\"");
          ok = false;
        } else if (!(provider.static_keys = parse_jwks(text, error, &skipped))) {
          ps.error("jwks_file", "\"" + path + "\" " + error);
          ok = false;
        }
        break;
      }
      case v1::Provider::kRemoteJwks:
        provider.remote = JwksFetcher::create(p.remote_jwks(), loaded, ps.child("remote_jwks"), store, stats_prefix);
        ok = ok && provider.remote != nullptr;
        break;
      case v1::Provider::KEYS_NOT_SET:
        ps.error("give local_jwks, jwks_file or remote_jwks");
        ok = false;
        break;
    }
    out.providers_.push_back(std::move(provider));
  }
  for (int i = 0; i < config.rules_size(); ++i) {
    const auto& rule = config.rules(i);
    if (rule.path_prefix().empty() || rule.path_prefix()[0] != '/') {
      scope.child("rules", i).error("path_prefix", "must start with '/'");
      ok = false;
    }
    out.rules_.emplace_back(rule.path_prefix(), rule.requirement());
  }
  if (!ok) return std::nullopt;
  return out;
}

void Authenticator::start() const {
  for (const auto& p : providers_) {
    if (p.remote) p.remote->start();
  }
}

v1::Requirement Authenticator::requirement_for(std::string_view path) const {
  for (const auto& [prefix, requirement] : rules_) {
    if (path.substr(0, prefix.size()) == prefix) {
      return requirement == v1::REQUIREMENT_UNSPECIFIED ? v1::REQUIREMENT_REQUIRED : requirement;
    }
  }
  return v1::REQUIREMENT_REQUIRED;
}

std::optional<FoundToken> Authenticator::find_token(const http::RequestHead& request) const {
  for (const auto& provider : providers_) {
    for (const auto& location : provider.locations) {
      if (auto token = token_at(request, location)) return FoundToken{std::move(*token), &provider, &location};
    }
  }
  return std::nullopt;
}

filter::Verdict Authenticator::authenticate(filter::RequestContext& context, double now) const {
  http::RequestHead& request = context.request;
  v1::Requirement requirement = requirement_for(http::target_path(request.target));
  if (requirement == v1::REQUIREMENT_BYPASS) return std::nullopt;
  // Headers wsproxy fills from verified claims are never taken from the client.
  for (const auto& provider : providers_) {
    for (const auto& c : provider.claims_to_headers) request.headers.remove(c.header());
  }
  std::optional<FoundToken> found = find_token(request);
  if (!found) {
    if (requirement == v1::REQUIREMENT_OPTIONAL) return std::nullopt;
    return deny(Failure::missing, providers_.front().name);
  }
  Jwt jwt;
  if (Failure f = parse_jwt(found->token, jwt); f != Failure::none) return deny(f, found->provider->name);
  // The provider that issued it: by "iss", else the one whose location found it.
  const Provider* provider = found->provider;
  if (const std::string* iss = jwt.claim("iss")) {
    for (const auto& p : providers_) {
      if (!p.rules.issuer.empty() && p.rules.issuer == *iss) provider = &p;
    }
  }
  std::shared_ptr<const KeySet> keys = provider->keys();
  if (!keys) return deny(Failure::no_keys, provider->name);
  if (Failure f = verify_signature(jwt, *keys); f != Failure::none) return deny(f, provider->name);
  if (Failure f = check_claims(jwt, provider->rules, now); f != Failure::none) return deny(f, provider->name);

  remove_token(request, *found);
  for (const auto& [name, value] : jwt.claims) context.attributes.set("jwt.claim." + name, value);
  for (const auto& c : provider->claims_to_headers) {
    const std::string* value = jwt.claim(c.claim());
    // Claims are the token issuer's text: never let one split a header.
    if (value != nullptr && value->find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos) {
      request.headers.set(c.header(), *value);
    }
  }
  if (provider->close_on_expiry && jwt.has_exp) {
    auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(
        static_cast<int64_t>((jwt.exp + static_cast<double>(provider->rules.clock_skew_seconds)) * 1000)));
    context.close_at(at, 1008, "token expired");
  }
  return std::nullopt;
}

filter::Verdict JwtAuthnFilter::on_request(filter::RequestContext& context) {
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return authenticator_.authenticate(context, now);
}

}  // namespace wsproxy::filters::jwt_authn

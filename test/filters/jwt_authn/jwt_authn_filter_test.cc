// Table-driven tests of the jwt_authn filter: where tokens are found, what
// each rule decides, and what the request looks like afterwards.
#include "filters/jwt_authn/jwt_authn_filter.h"

#include <google/protobuf/text_format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace wsproxy::filters::jwt_authn {
namespace {

using ::testing::HasSubstr;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";  // 32 bytes
constexpr char kSecretB64[] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
constexpr double kNow = 1800000000;

std::string b64url(std::string_view in) {
  std::string out;
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += table[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += table[(buffer << (6 - bits)) & 0x3F];
  return out;
}

std::string token(const std::string& payload, const std::string& header = R"({"alg":"HS256","kid":"k1"})") {
  std::string input = b64url(header) + "." + b64url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), kSecret, 32, reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &size);
  return input + "." + b64url(std::string(reinterpret_cast<char*>(mac), size));
}

const std::string kGood = token(R"({"sub":"alice","iss":"https://idp.test","aud":"chat","exp":1800000100,"role":"admin"})");

struct Fixture {
  stats::Store store{1};
  config::ErrorList errors{"test"};
  config::LoadedConfig loaded;
  v1::JwtAuthn config;
  std::optional<Authenticator> authenticator;

  explicit Fixture(std::string extra = "") {
    std::string text = std::string(R"(providers {
        name: "idp" issuer: "https://idp.test" audiences: "chat" clock_skew { seconds: 10 }
        local_jwks: '{"keys":[{"kty":"oct","kid":"k1","k":")") + kSecretB64 + R"("}]}'
        claims_to_headers { claim: "sub" header: "x-user" }
        token_locations { authorization_bearer: true }
        token_locations { header: "x-token" }
        token_locations { query_parameter { name: "access_token" remove: true } }
        token_locations { cookie: "session" }
        token_locations { subprotocol { kubernetes_form: true } }
      }
      rules { path_prefix: "/public" requirement: REQUIREMENT_OPTIONAL }
      rules { path_prefix: "/health" requirement: REQUIREMENT_BYPASS }
    )" + extra;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config));
    authenticator = Authenticator::create(config, loaded, config::FieldScope(errors, config, nullptr), store, "f.");
  }
};

struct Request {
  filter::ConnectionInfo info;
  filter::Attributes attributes;
  http::RequestHead head;
  explicit Request(std::string target = "/chat") {
    head.method = "GET";
    head.target = std::move(target);
    head.headers.add("Host", "chat.test");
  }
};

filter::Verdict run(const Fixture& f, Request& r, std::optional<filter::ScheduledClose>* scheduled = nullptr) {
  filter::RequestContext context{r.info, r.attributes, r.head};
  filter::Verdict v = f.authenticator->authenticate(context, kNow);
  if (scheduled) *scheduled = context.scheduled_close;
  return v;
}

TEST(JwtAuthnTest, BearerTokenPassesAndClaimsGoOn) {
  Fixture f;
  ASSERT_TRUE(f.authenticator) << f.errors.joined();
  Request r;
  r.head.headers.add("Authorization", "Bearer " + kGood);
  r.head.headers.add("X-User", "mallory");  // a client cannot set this
  std::optional<filter::ScheduledClose> scheduled;
  EXPECT_FALSE(run(f, r, &scheduled));
  EXPECT_EQ(r.head.headers.count("x-user"), 1u);
  EXPECT_EQ(*r.head.headers.get("x-user"), "alice");
  ASSERT_NE(r.attributes.get("jwt.claim.role"), nullptr);
  EXPECT_EQ(*r.attributes.get("jwt.claim.role"), "admin");
  ASSERT_TRUE(scheduled);
  EXPECT_EQ(scheduled->code, 1008);
  EXPECT_EQ(scheduled->reason, "token expired");
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(scheduled->at.time_since_epoch()).count(), 1800000110);
}

TEST(JwtAuthnTest, EveryLocation) {
  Fixture f;
  ASSERT_TRUE(f.authenticator) << f.errors.joined();
  {
    Request r;
    r.head.headers.add("X-Token", kGood);
    EXPECT_FALSE(run(f, r));
  }
  {
    Request r("/chat?room=1&access_token=" + kGood + "&x=2");
    EXPECT_FALSE(run(f, r));
    EXPECT_EQ(r.head.target, "/chat?room=1&x=2");
  }
  {
    Request r;
    r.head.headers.add("Cookie", "theme=dark; session=" + kGood + "; other=1");
    EXPECT_FALSE(run(f, r));
  }
  {
    Request r;
    r.head.headers.add("Sec-WebSocket-Protocol", "chat.v1, access_token, " + kGood);
    EXPECT_FALSE(run(f, r));
    EXPECT_EQ(*r.head.headers.get("sec-websocket-protocol"), "chat.v1, access_token");
  }
  {
    Request r;
    r.head.headers.add("Sec-WebSocket-Protocol", "base64url.bearer.authorization.k8s.io." + b64url(kGood) + ", chat");
    EXPECT_FALSE(run(f, r));
    EXPECT_EQ(*r.head.headers.get("sec-websocket-protocol"), "chat");
  }
}

struct Refusal {
  const char* name;
  std::string token;
  const char* reason;
};

class RefusalTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(RefusalTest, Answers401WithTheReason) {
  Fixture f;
  ASSERT_TRUE(f.authenticator) << f.errors.joined();
  Request r;
  if (!GetParam().token.empty()) r.head.headers.add("Authorization", "Bearer " + GetParam().token);
  auto verdict = run(f, r);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->status, 401);
  EXPECT_EQ(verdict->reason, GetParam().reason);
  ASSERT_EQ(verdict->headers.size(), 1u);
  EXPECT_EQ(verdict->headers[0].name, "WWW-Authenticate");
  if (std::string(GetParam().reason) == "missing") {
    EXPECT_EQ(verdict->headers[0].value, "Bearer realm=\"wsproxy\"");
  } else {
    EXPECT_THAT(verdict->headers[0].value, HasSubstr("error=\"invalid_token\""));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Reasons, RefusalTest,
    ::testing::Values(
        Refusal{"Missing", "", "missing"},
        Refusal{"Malformed", "not.a.token", "malformed"},
        Refusal{"BadSignature", kGood.substr(0, kGood.size() - 4) + "AAAA", "bad_signature"},
        Refusal{"Expired", token(R"({"iss":"https://idp.test","aud":"chat","exp":1799999000})"), "expired"},
        Refusal{"NotYetValid", token(R"({"iss":"https://idp.test","aud":"chat","nbf":1800001000})"), "not_yet_valid"},
        Refusal{"WrongIssuer", token(R"({"iss":"https://evil.test","aud":"chat"})"), "wrong_issuer"},
        Refusal{"WrongAudience", token(R"({"iss":"https://idp.test","aud":["feed","admin"]})"), "wrong_audience"},
        Refusal{"UnknownKey", token(R"({"iss":"https://idp.test","aud":"chat"})", R"({"alg":"HS256","kid":"k9"})"),
                "unknown_key"},
        Refusal{"AlgNone", b64url(R"({"alg":"none"})") + "." + b64url(R"({"iss":"https://idp.test"})") + ".",
                "bad_signature"},
        Refusal{"AlgNotFittingTheKey", token(R"({"iss":"https://idp.test","aud":"chat"})", R"({"alg":"RS256","kid":"k1"})"),
                "bad_signature"}),
    [](const ::testing::TestParamInfo<Refusal>& info) { return info.param.name; });

TEST(JwtAuthnTest, OptionalAndBypassRoutes) {
  Fixture f;
  ASSERT_TRUE(f.authenticator) << f.errors.joined();
  Request no_token("/public/feed");
  EXPECT_FALSE(run(f, no_token));
  Request bad_token("/public/feed");
  bad_token.head.headers.add("Authorization", "Bearer not.a.token");
  EXPECT_TRUE(run(f, bad_token));
  Request bypass("/health");
  bypass.head.headers.add("Authorization", "Bearer not.a.token");
  EXPECT_FALSE(run(f, bypass));
}

TEST(JwtAuthnTest, RequiredClaimsAndIgnoredExpiry) {
  Fixture f;
  f.config.mutable_providers(0)->mutable_required_claims()->insert({"role", "admin"});
  f.config.mutable_providers(0)->set_on_expiry(v1::EXPIRY_ACTION_IGNORE);
  f.authenticator = Authenticator::create(f.config, f.loaded, config::FieldScope(f.errors, f.config, nullptr), f.store, "f.");
  ASSERT_TRUE(f.authenticator);
  Request r;
  r.head.headers.add("Authorization", "Bearer " + kGood);
  std::optional<filter::ScheduledClose> scheduled;
  EXPECT_FALSE(run(f, r, &scheduled));
  EXPECT_FALSE(scheduled);
  Request other;
  other.head.headers.add("Authorization", "Bearer " + token(R"({"iss":"https://idp.test","aud":"chat","role":"user"})"));
  auto verdict = run(f, other);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->reason, "claim_mismatch");
}

TEST(JwtAuthnConfigTest, RefusesWhatCannotWork) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"", "providers: give at least one provider"},
      {"providers { }", "providers[0]: give local_jwks, jwks_file or remote_jwks"},
      {R"(providers { local_jwks: "{}" })", "providers[0].local_jwks: the JWKS has no \"keys\" array"},
      {R"(providers { jwks_file: "/nonexistent.json" })", "providers[0].jwks_file: cannot read"},
      {R"(providers { remote_jwks { uri: "http://idp/jwks" } })", "remote_jwks.uri: \"http://idp/jwks\" must be an https:// URL"},
      {R"(providers { remote_jwks { uri: "https:///jwks" } })", "has no valid host and port"},
      {R"(providers { remote_jwks { uri: "https://idp/jwks" ca_file: "/nonexistent.pem" } })", "remote_jwks.ca_file: cannot load"},
      {R"(providers { local_jwks: '{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}' token_locations { } })",
       "token_locations[0]: give one of"},
      {R"(providers { local_jwks: '{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}' claims_to_headers { claim: "sub" header: "a b" } })",
       "claims_to_headers[0]: give a claim and a header name"},
      {R"(providers { local_jwks: '{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}' } rules { path_prefix: "x" })",
       "rules[0].path_prefix: must start with '/'"},
  };
  for (const auto& c : cases) {
    v1::JwtAuthn config;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(c.text, &config)) << c.text;
    stats::Store store(1);
    config::ErrorList errors("test");
    config::LoadedConfig loaded;
    EXPECT_FALSE(Authenticator::create(config, loaded, config::FieldScope(errors, config, nullptr), store, "f."))
        << c.text;
    EXPECT_THAT(errors.joined(), HasSubstr(c.error)) << c.text;
  }
}

}  // namespace
}  // namespace wsproxy::filters::jwt_authn

// Table-driven tests of the origin filter: config in, decision out.
#include "filters/origin/origin_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsproxy::filters::origin {
namespace {

using ::testing::HasSubstr;

struct Decision {
  const char* name;
  std::vector<std::string> allowed;
  bool deny_missing;
  std::vector<std::string> origin_headers;  // as sent; empty: none
  const char* denied_reason;                // nullptr: allowed
};

class OriginDecisionTest : public ::testing::TestWithParam<Decision> {};

TEST_P(OriginDecisionTest, Decides) {
  const Decision& d = GetParam();
  v1::Origin config;
  for (const auto& a : d.allowed) config.add_allowed_origins(a);
  config.set_deny_missing(d.deny_missing);
  config::ErrorList errors("test");
  auto policy = OriginPolicy::create(config, config::FieldScope(errors, config, nullptr));
  ASSERT_TRUE(policy) << errors.joined();
  http::HeaderMap headers;
  for (const auto& o : d.origin_headers) headers.add("Origin", o);
  filter::Verdict verdict = policy->check(headers);
  if (d.denied_reason == nullptr) {
    EXPECT_FALSE(verdict) << verdict->reason;
  } else {
    ASSERT_TRUE(verdict);
    EXPECT_EQ(verdict->status, 403);
    EXPECT_EQ(verdict->reason, d.denied_reason);
  }
}

const std::vector<std::string> kExact = {"https://chat.example.com"};
const std::vector<std::string> kWildcard = {"https://*.example.com"};

INSTANTIATE_TEST_SUITE_P(
    Rules, OriginDecisionTest,
    ::testing::Values(
        Decision{"ExactMatch", kExact, false, {"https://chat.example.com"}, nullptr},
        Decision{"SchemeAndHostIgnoreCase", kExact, false, {"HTTPS://Chat.Example.COM"}, nullptr},
        Decision{"OtherHost", kExact, false, {"https://evil.com"}, "not_allowed"},
        Decision{"LookalikeSuffix", kExact, false, {"https://chat.example.com.evil.com"}, "not_allowed"},
        Decision{"OtherScheme", kExact, false, {"http://chat.example.com"}, "not_allowed"},
        Decision{"DefaultPortWritten", kExact, false, {"https://chat.example.com:443"}, nullptr},
        Decision{"OtherPort", kExact, false, {"https://chat.example.com:8443"}, "not_allowed"},
        Decision{"PortInPattern", {"http://localhost:3000"}, false, {"http://localhost:3000"}, nullptr},
        Decision{"PortMissingWhenPatternHasOne", {"http://localhost:3000"}, false, {"http://localhost"}, "not_allowed"},
        Decision{"WildcardSubdomain", kWildcard, false, {"https://chat.example.com"}, nullptr},
        Decision{"WildcardDeepSubdomain", kWildcard, false, {"https://a.b.example.com"}, nullptr},
        Decision{"WildcardNotApex", kWildcard, false, {"https://example.com"}, "not_allowed"},
        Decision{"WildcardNotSuffixTrick", kWildcard, false, {"https://evilexample.com"}, "not_allowed"},
        Decision{"WildcardSchemeMatters", kWildcard, false, {"http://chat.example.com"}, "not_allowed"},
        Decision{"NullDenied", kExact, false, {"null"}, "null"},
        Decision{"NullAllowedWhenListed", {"null"}, false, {"null"}, nullptr},
        Decision{"MissingAllowedByDefault", kExact, false, {}, nullptr},
        Decision{"MissingDeniedWhenConfigured", kExact, true, {}, "missing"},
        Decision{"TwoOriginHeaders", kExact, false, {"https://chat.example.com", "https://chat.example.com"}, "multiple"},
        Decision{"PathIsMalformed", kExact, false, {"https://chat.example.com/"}, "malformed"},
        Decision{"NoScheme", kExact, false, {"chat.example.com"}, "malformed"},
        Decision{"UserInfo", kExact, false, {"https://user@chat.example.com"}, "malformed"},
        Decision{"BadPort", kExact, false, {"https://chat.example.com:99999"}, "malformed"},
        Decision{"WildcardInRequestIsMalformed", kWildcard, false, {"https://*.example.com"}, "malformed"},
        Decision{"Ipv6Host", {"http://[::1]:8080"}, false, {"http://[::1]:8080"}, nullptr}),
    [](const ::testing::TestParamInfo<Decision>& info) { return info.param.name; });

TEST(OriginConfigTest, RefusesEntriesThatAreNotOrigins) {
  v1::Origin config;
  for (const char* bad : {"chat.example.com", "https://x.com/path", "https://x.com:0", "https://*", "https://a.*.com",
                          "*://x.com"}) {
    config.add_allowed_origins(bad);
  }
  config.add_allowed_origins("https://fine.example.com");
  config::ErrorList errors("test");
  EXPECT_FALSE(OriginPolicy::create(config, config::FieldScope(errors, config, nullptr)));
  EXPECT_EQ(errors.messages().size(), 6u) << errors.joined();
  EXPECT_THAT(errors.joined(), HasSubstr("allowed_origins: \"https://x.com/path\" is not an origin"));
}

TEST(OriginConfigTest, RefusesAnEmptyList) {
  v1::Origin config;
  config::ErrorList errors("test");
  EXPECT_FALSE(OriginPolicy::create(config, config::FieldScope(errors, config, nullptr)));
  EXPECT_THAT(errors.joined(), HasSubstr("list at least one origin"));
}

TEST(ParseOriginTest, NormalizesSchemeHostAndPort) {
  auto o = parse_origin("HTTPS://Chat.Example.com", false);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->scheme, "https");
  EXPECT_EQ(o->host, "chat.example.com");
  EXPECT_EQ(o->port, 443u);
  auto p = parse_origin("https://*.example.com:8443", true);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->wildcard);
  EXPECT_EQ(p->host, "example.com");
  EXPECT_EQ(p->port, 8443u);
}

}  // namespace
}  // namespace wsproxy::filters::origin

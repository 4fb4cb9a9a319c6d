// Tests of the rate_limit filter: keys, hooks, answers and config checks.
#include "filters/rate_limit/rate_limit_filter.h"

#include <google/protobuf/text_format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsproxy::filters::rate_limit {
namespace {

using ::testing::HasSubstr;

v1::RateLimit parse(const std::string& text) {
  v1::RateLimit config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

struct Request {
  filter::ConnectionInfo info;
  filter::Attributes attributes;
  http::RequestHead head;
  explicit Request(std::string_view ip = "10.0.0.1") {
    info.client_ip = ip;
    head.target = "/chat/room?x=1";
  }
};

TEST(KeySourceTest, KeysByEverySource) {
  Request r;
  r.head.headers.add("X-Forwarded-For", "1.1.1.1, 2.2.2.2");
  r.head.headers.add("X-Forwarded-For", "3.3.3.3");
  r.head.headers.add("X-Tenant", "acme");
  r.attributes.set("jwt.claim.sub", "alice");
  auto key = [&](const std::string& text) {
    return KeySource(parse(text).key()).key_for(r.info, r.attributes, &r.head);
  };
  EXPECT_EQ(key(""), "address:10.0.0.1");
  EXPECT_EQ(key("key { client_address { } }"), "address:10.0.0.1");
  EXPECT_EQ(key("key { client_address { forwarded_for_index: 1 } }"), "address:3.3.3.3");
  EXPECT_EQ(key("key { client_address { forwarded_for_index: 3 } }"), "address:1.1.1.1");
  EXPECT_EQ(key("key { client_address { forwarded_for_index: 4 } }"), "address:10.0.0.1");
  EXPECT_EQ(key("key { header: \"x-tenant\" }"), "value:acme");
  EXPECT_EQ(key("key { header: \"x-missing\" }"), "address:10.0.0.1");
  EXPECT_EQ(key("key { jwt_claim: \"sub\" }"), "value:alice");
  EXPECT_EQ(key("key { jwt_claim: \"email\" }"), "address:10.0.0.1");
  EXPECT_EQ(key("key { path: true }"), "value:/chat/room");
}

TEST(KeySourceTest, OnlyThePeerAddressIsKnownAtConnect) {
  EXPECT_TRUE(KeySource(parse("").key()).known_at_connect());
  EXPECT_TRUE(KeySource(parse("key { client_address { } }").key()).known_at_connect());
  EXPECT_FALSE(KeySource(parse("key { client_address { forwarded_for_index: 1 } }").key()).known_at_connect());
  EXPECT_FALSE(KeySource(parse("key { header: \"x\" }").key()).known_at_connect());
}

TEST(RateLimitFilterTest, AnswersTooManyRequestsWithRetryAfter) {
  stats::Store store(1);
  v1::RateLimit config = parse("new_connections { rate_per_second: 0.25 burst: 2 }");
  auto limiter = std::make_shared<Limiter>(settings_of(config), store.gauge("keys"));
  KeySource key(config.key());
  Request r;
  for (int i = 0; i < 2; ++i) {
    RateLimitFilter f(limiter, key);
    filter::ConnectContext c{r.info, r.attributes};
    EXPECT_FALSE(f.on_connect(c));
  }
  RateLimitFilter f(limiter, key);
  filter::ConnectContext c{r.info, r.attributes};
  auto verdict = f.on_connect(c);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->status, 429);
  EXPECT_EQ(verdict->reason, "rate");
  ASSERT_EQ(verdict->headers.size(), 1u);
  EXPECT_EQ(verdict->headers[0].name, "Retry-After");
  EXPECT_EQ(verdict->headers[0].value, "4");
  // Another client is not affected.
  Request other("10.0.0.2");
  filter::ConnectContext c2{other.info, other.attributes};
  EXPECT_FALSE(RateLimitFilter(limiter, key).on_connect(c2));
}

TEST(RateLimitFilterTest, ClosingReleasesTheOpenCount) {
  stats::Store store(1);
  v1::RateLimit config = parse("max_concurrent: 1 key { header: \"x-user\" }");
  auto limiter = std::make_shared<Limiter>(settings_of(config), store.gauge("keys"));
  KeySource key(config.key());
  Request r;
  r.head.headers.add("X-User", "bob");
  filter::RequestContext c{r.info, r.attributes, r.head};
  auto first = std::make_unique<RateLimitFilter>(limiter, key);
  EXPECT_FALSE(first->on_request(c));
  RateLimitFilter second(limiter, key);
  auto verdict = second.on_request(c);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->reason, "concurrent");
  first->on_close();
  RateLimitFilter third(limiter, key);
  EXPECT_FALSE(third.on_request(c));
}

TEST(RateLimitConfigTest, RefusesWhatCannotWork) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"", "give new_connections, max_concurrent or both"},
      {"new_connections { burst: 1 }", "new_connections.rate_per_second: must be more than 0"},
      {"new_connections { rate_per_second: -1 burst: 1 }", "rate_per_second: must be more than 0"},
      {"new_connections { rate_per_second: 1 }", "new_connections.burst: must be at least 1"},
      {"max_concurrent: 1 max_keys: 0", "max_keys: must be at least 1"},
      {"max_concurrent: 1 key { header: \"\" }", "key.header: name the header"},
      {"max_concurrent: 1 key { jwt_claim: \"\" }", "key.jwt_claim: name the claim"},
      {"max_concurrent: 1 key { path: false }", "key.path: set it to true"},
  };
  for (const auto& c : cases) {
    v1::RateLimit config = parse(c.text);
    config::ErrorList errors("test");
    EXPECT_FALSE(validate(config, config::FieldScope(errors, config, nullptr))) << c.text;
    EXPECT_THAT(errors.joined(), HasSubstr(c.error)) << c.text;
  }
}

}  // namespace
}  // namespace wsproxy::filters::rate_limit

// Table-driven tests of header_rewrite: templates, actions, and what the
// config refuses.
#include "filters/header_rewrite/header_rewrite_filter.h"

#include <google/protobuf/text_format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsproxy::filters::header_rewrite {
namespace {

using ::testing::HasSubstr;

struct Fixture {
  stats::Store store{1};
  config::ErrorList errors{"test"};
  v1::HeaderRewrite config;
  std::optional<Rewrites> rewrites;

  explicit Fixture(const std::string& text) {
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
    rewrites = Rewrites::create(config, config::FieldScope(errors, config, nullptr), store.counter("invalid"));
  }
};

struct Connection {
  std::vector<std::string> sans;
  filter::ConnectionInfo info;
  filter::Attributes attributes;
  http::RequestHead request;
  Connection() {
    info.listener = "public";
    info.chain = "main";
    info.client_ip = "203.0.113.9";
    info.client_port = 40000;
    info.server_name = "chat.example.com";
    info.peer_subject = "CN=alice,O=Example";
    request.headers.add("Host", "chat.example.com");
    request.headers.add("User-Agent", "test-agent");
    request.headers.add("X-Drop", "1");
    attributes.set("jwt.claim.sub", "user-42");
  }
};

TEST(HeaderRewriteTest, RequestActionsWithEveryVariable) {
  Fixture f(R"(
    request { set { name: "X-Client" value: "%CLIENT_IP%:%CLIENT_PORT%" } }
    request { set { name: "X-Route" value: "%LISTENER%/%CHAIN% via %SNI%" } }
    request { add { name: "X-Cert" value: "%CLIENT_CERT_SUBJECT%" } }
    request { add { name: "X-User" value: "%JWT_CLAIM(sub)%" } }
    request { add { name: "X-Agent" value: "ua=%REQ(user-agent)% 100%%" } }
    request { remove: "x-drop" }
    request { add { name: "X-Empty" value: "%JWT_CLAIM(missing)%" } }
  )");
  ASSERT_TRUE(f.rewrites) << f.errors.joined();
  Connection c;
  filter::RequestContext context{c.info, c.attributes, c.request};
  EXPECT_FALSE(f.rewrites->rewrite_request(context));
  const auto& h = c.request.headers;
  EXPECT_EQ(*h.get("x-client"), "203.0.113.9:40000");
  EXPECT_EQ(*h.get("x-route"), "public/main via chat.example.com");
  EXPECT_EQ(*h.get("x-cert"), "CN=alice,O=Example");
  EXPECT_EQ(*h.get("x-user"), "user-42");
  EXPECT_EQ(*h.get("x-agent"), "ua=test-agent 100%");
  EXPECT_EQ(h.get("x-drop"), nullptr);
  EXPECT_EQ(h.get("x-empty"), nullptr);
}

TEST(HeaderRewriteTest, SetReplacesAndAddKeeps) {
  Fixture f(R"(
    request { set { name: "user-agent" value: "replaced" } }
    request { add { name: "host" value: "second" } }
  )");
  ASSERT_TRUE(f.rewrites) << f.errors.joined();
  Connection c;
  filter::RequestContext context{c.info, c.attributes, c.request};
  EXPECT_FALSE(f.rewrites->rewrite_request(context));
  EXPECT_EQ(c.request.headers.count("user-agent"), 1u);
  EXPECT_EQ(*c.request.headers.get("user-agent"), "replaced");
  EXPECT_EQ(c.request.headers.count("host"), 2u);
}

TEST(HeaderRewriteTest, ExpandedCrLfIsRefusedAtRunTime) {
  Fixture f(R"(request { set { name: "X-User" value: "%JWT_CLAIM(sub)%" } })");
  ASSERT_TRUE(f.rewrites);
  Connection c;
  c.attributes.set("jwt.claim.sub", "evil\r\nX-Admin: true");
  filter::RequestContext context{c.info, c.attributes, c.request};
  auto verdict = f.rewrites->rewrite_request(context);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->status, 400);
  EXPECT_EQ(verdict->reason, "invalid_value");
  EXPECT_EQ(f.store.counter("invalid").value(), 1u);
}

TEST(HeaderRewriteTest, ResponseActionsLeaveOutBadValues) {
  Fixture f(R"(
    response { set { name: "X-Served-By" value: "wsproxy %LISTENER%" } }
    response { set { name: "X-Bad" value: "%JWT_CLAIM(sub)%" } }
    response { remove: "server" }
  )");
  ASSERT_TRUE(f.rewrites) << f.errors.joined();
  Connection c;
  c.attributes.set("jwt.claim.sub", std::string("a\0b", 3));
  http::ResponseHead response;
  response.status = 101;
  response.headers.add("Server", "upstream/1.0");
  filter::ResponseContext context{c.info, c.attributes, c.request, response};
  f.rewrites->rewrite_response(context);
  EXPECT_EQ(*response.headers.get("x-served-by"), "wsproxy public");
  EXPECT_EQ(response.headers.get("x-bad"), nullptr);
  EXPECT_EQ(response.headers.get("server"), nullptr);
  EXPECT_EQ(f.store.counter("invalid").value(), 1u);
}

struct BadConfig {
  const char* name;
  const char* text;
  const char* error;
};

class BadConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, IsRefusedWithTheField) {
  Fixture f(GetParam().text);
  EXPECT_FALSE(f.rewrites);
  EXPECT_THAT(f.errors.joined(), HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BadConfigTest,
    ::testing::Values(
        BadConfig{"Empty", "", "give at least one request or response action"},
        BadConfig{"NoAction", "request { }", "request[0]: give one of add, set or remove"},
        BadConfig{"CrLfLiteral", R"(request { set { name: "X" value: "a\r\nb" } })", "request[0].set.value: \"a\\r\\nb\" contains CR, LF or NUL"},
        BadConfig{"NulLiteral", R"(request { set { name: "X" value: "a\000b" } })", "contains CR, LF or NUL"},
        BadConfig{"UnknownVariable", R"(request { set { name: "X" value: "%NOPE%" } })", "unknown variable %NOPE%"},
        BadConfig{"UnterminatedPercent", R"(request { set { name: "X" value: "50%" } })", "starts no variable"},
        BadConfig{"MissingArgument", R"(request { set { name: "X" value: "%REQ%" } })", "needs an argument"},
        BadConfig{"UnexpectedArgument", R"(request { set { name: "X" value: "%SNI(x)%" } })", "takes no argument"},
        BadConfig{"BadName", R"(request { set { name: "X Y" value: "v" } })", "request[0].set.name: \"X Y\" is not a header name"},
        BadConfig{"UpgradeField", R"(request { set { name: "Upgrade" value: "h2c" } })", "part of the WebSocket upgrade"},
        BadConfig{"KeyField", R"(request { remove: "Sec-WebSocket-Key" })", "request[0].remove: \"Sec-WebSocket-Key\" is part of the WebSocket upgrade"},
        BadConfig{"AcceptField", R"(response { set { name: "sec-websocket-accept" value: "x" } })", "part of the WebSocket upgrade"},
        BadConfig{"ConnectionField", R"(response { remove: "Connection" })", "part of the WebSocket upgrade"},
        BadConfig{"FramingField", R"(request { add { name: "Transfer-Encoding" value: "chunked" } })", "framing"},
        BadConfig{"ForwardedField", R"(request { set { name: "X-Forwarded-For" value: "1.2.3.4" } })", "set by wsproxy itself"}),
    [](const ::testing::TestParamInfo<BadConfig>& info) { return info.param.name; });

}  // namespace
}  // namespace wsproxy::filters::header_rewrite

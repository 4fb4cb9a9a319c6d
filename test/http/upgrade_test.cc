// Tests of the WebSocket handshake as a proxy handles it: RFC 6455 4.2.1
// checks, the request forwarded upstream, and the upstream's 101 checked
// and relayed.
#include "source/http/upgrade.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsproxy::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

RequestHead valid_request() {
  RequestHead r;
  r.method = "GET";
  r.target = "/chat?room=1";
  r.headers.add("Host", "example.com");
  r.headers.add("Upgrade", "websocket");
  r.headers.add("Connection", "Upgrade");
  r.headers.add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  r.headers.add("Sec-WebSocket-Version", "13");
  return r;
}

TEST(CheckUpgradeRequestTest, AcceptsAValidRequest) { EXPECT_FALSE(check_upgrade_request(valid_request())); }

TEST(CheckUpgradeRequestTest, AcceptsTokenListsInAnyCase) {
  RequestHead r = valid_request();
  r.headers.set("Connection", "keep-alive, UPGRADE");
  r.headers.set("Upgrade", "WebSocket");
  EXPECT_FALSE(check_upgrade_request(r));
}

struct Mutation {
  const char* name;
  void (*apply)(RequestHead&);
  int status;
  const char* message;
};

class RefusedRequestTest : public ::testing::TestWithParam<Mutation> {};

TEST_P(RefusedRequestTest, GetsTheRightStatus) {
  RequestHead r = valid_request();
  GetParam().apply(r);
  auto rejection = check_upgrade_request(r);
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->status, GetParam().status);
  EXPECT_THAT(rejection->message, HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Rfc6455, RefusedRequestTest,
    ::testing::Values(
        Mutation{"NoUpgrade", [](RequestHead& r) { r.headers.remove("upgrade"); }, 426, "WebSocket endpoint"},
        Mutation{"UpgradeToH2c", [](RequestHead& r) { r.headers.set("Upgrade", "h2c"); }, 426, "WebSocket endpoint"},
        Mutation{"Http10", [](RequestHead& r) { r.version_minor = 0; }, 400, "HTTP/1.1"},
        Mutation{"Post", [](RequestHead& r) { r.method = "POST"; }, 400, "GET"},
        Mutation{"NoConnectionUpgrade", [](RequestHead& r) { r.headers.set("Connection", "keep-alive"); }, 400,
                 "Connection"},
        Mutation{"NoHost", [](RequestHead& r) { r.headers.remove("host"); }, 400, "Host"},
        Mutation{"TwoHosts", [](RequestHead& r) { r.headers.add("Host", "evil.com"); }, 400, "Host"},
        Mutation{"NoKey", [](RequestHead& r) { r.headers.remove("sec-websocket-key"); }, 400, "missing"},
        Mutation{"TwoKeys", [](RequestHead& r) { r.headers.add("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="); },
                 400, "more than once"},
        Mutation{"ShortKey", [](RequestHead& r) { r.headers.set("Sec-WebSocket-Key", "c2hvcnQ="); }, 400, "16-byte"},
        Mutation{"KeyNotBase64", [](RequestHead& r) { r.headers.set("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!=="); },
                 400, "16-byte"},
        Mutation{"NoVersion", [](RequestHead& r) { r.headers.remove("sec-websocket-version"); }, 426, "version 13"},
        Mutation{"Version8", [](RequestHead& r) { r.headers.set("Sec-WebSocket-Version", "8"); }, 426, "version 13"},
        Mutation{"TwoVersions", [](RequestHead& r) { r.headers.add("Sec-WebSocket-Version", "13"); }, 426,
                 "version 13"},
        Mutation{"TransferEncoding", [](RequestHead& r) { r.headers.add("Transfer-Encoding", "chunked"); }, 400,
                 "Transfer-Encoding"},
        Mutation{"Body", [](RequestHead& r) { r.headers.add("Content-Length", "3"); }, 400, "body"},
        Mutation{"AbsoluteFormTarget", [](RequestHead& r) { r.target = "http://example.com/chat"; }, 400,
                 "absolute path"},
        Mutation{"AsteriskTarget", [](RequestHead& r) { r.target = "*"; }, 400, "absolute path"},
        Mutation{"DotDot", [](RequestHead& r) { r.target = "/public/../admin"; }, 400, "segment"},
        Mutation{"TrailingDotDot", [](RequestHead& r) { r.target = "/public/.."; }, 400, "segment"},
        Mutation{"EncodedDotDot", [](RequestHead& r) { r.target = "/public/%2E%2e/admin"; }, 400, "segment"},
        Mutation{"Dot", [](RequestHead& r) { r.target = "/./admin"; }, 400, "segment"},
        Mutation{"NonAscii", [](RequestHead& r) { r.target = "/caf\xe9"; }, 400, "printable ASCII"},
        Mutation{"BadPercent", [](RequestHead& r) { r.target = "/a%zz"; }, 400, "percent"},
        Mutation{"TruncatedPercent", [](RequestHead& r) { r.target = "/a%2"; }, 400, "percent"}),
    [](const ::testing::TestParamInfo<Mutation>& info) { return info.param.name; });

TEST(CheckUpgradeRequestTest, RefusalsCarryTheHeadersRfc6455Asks) {
  RequestHead r = valid_request();
  r.headers.set("Sec-WebSocket-Version", "7");
  auto rejection = check_upgrade_request(r);
  ASSERT_TRUE(rejection);
  ASSERT_EQ(rejection->headers.size(), 1u);
  EXPECT_EQ(rejection->headers[0].name, "Sec-WebSocket-Version");
  EXPECT_EQ(rejection->headers[0].value, "13");
}

TEST(CheckUpgradeRequestTest, DotsInsideSegmentsAreFine) {
  RequestHead r = valid_request();
  r.target = "/v1.2/file..name/.hidden?x=../y";
  EXPECT_FALSE(check_upgrade_request(r));
}

TEST(TargetPathTest, DropsTheQuery) {
  EXPECT_EQ(target_path("/chat?token=x"), "/chat");
  EXPECT_EQ(target_path("/chat"), "/chat");
}

TEST(UpstreamRequestTest, ForwardsEndToEndFieldsAndSetsForwardingFields) {
  RequestHead r = valid_request();
  r.headers.add("Sec-WebSocket-Protocol", "chat.v1, chat.v2");
  r.headers.add("X-Forwarded-For", "198.51.100.1");
  r.headers.add("X-Forwarded-For", "198.51.100.2");
  r.headers.add("X-Forwarded-Proto", "spoofed");
  r.headers.add("X-Forwarded-Host", "spoofed");
  r.headers.add("Cookie", "session=1");
  std::string out = upstream_request(r, Forwarding{"203.0.113.9", true});
  EXPECT_EQ(out.substr(0, 28), "GET /chat?room=1 HTTP/1.1\r\nH");
  EXPECT_THAT(out, HasSubstr("\r\nHost: example.com\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nSec-WebSocket-Version: 13\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nSec-WebSocket-Protocol: chat.v1, chat.v2\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nCookie: session=1\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nX-Forwarded-For: 198.51.100.1, 198.51.100.2, 203.0.113.9\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nX-Forwarded-Proto: https\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nX-Forwarded-Host: example.com\r\n\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("spoofed")));
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(UpstreamRequestTest, DropsHopByHopFieldsAndThoseConnectionNames) {
  RequestHead r = valid_request();
  r.headers.set("Connection", "Upgrade, X-Hop");
  r.headers.add("X-Hop", "secret");
  r.headers.add("Keep-Alive", "timeout=5");
  r.headers.add("TE", "trailers");
  r.headers.add("Proxy-Authorization", "Basic x");
  r.headers.add("Proxy-Connection", "keep-alive");
  std::string out = upstream_request(r, Forwarding{"127.0.0.1", false});
  for (const char* dropped : {"X-Hop", "Keep-Alive", "TE:", "Proxy-Authorization", "Proxy-Connection", "Upgrade, X-Hop"}) {
    EXPECT_THAT(out, Not(HasSubstr(dropped)));
  }
  EXPECT_THAT(out, HasSubstr("X-Forwarded-Proto: http\r\n"));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-For: 127.0.0.1\r\n"));
}

TEST(WebSocketAcceptTest, MatchesTheRfc6455Example) {
  EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

ResponseHead valid_response() {
  ResponseHead r;
  r.status = 101;
  r.headers.add("Upgrade", "websocket");
  r.headers.add("Connection", "Upgrade");
  r.headers.add("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  return r;
}

TEST(CheckUpgradeResponseTest, AcceptsAValid101) { EXPECT_FALSE(check_upgrade_response(valid_response(), valid_request())); }

TEST(CheckUpgradeResponseTest, RefusesWhatTheClientWouldRefuse) {
  struct Case {
    void (*apply)(ResponseHead&);
    const char* message;
  } cases[] = {
      {[](ResponseHead& r) { r.status = 403; }, "answered 403 instead of 101"},
      {[](ResponseHead& r) { r.headers.remove("upgrade"); }, "Upgrade"},
      {[](ResponseHead& r) { r.headers.set("Connection", "close"); }, "Connection"},
      {[](ResponseHead& r) { r.headers.remove("sec-websocket-accept"); }, "Sec-WebSocket-Accept"},
      {[](ResponseHead& r) { r.headers.set("Sec-WebSocket-Accept", "AAAA"); }, "does not match"},
      {[](ResponseHead& r) { r.headers.add("Sec-WebSocket-Protocol", "surprise"); }, "did not offer"},
  };
  for (const auto& c : cases) {
    ResponseHead r = valid_response();
    c.apply(r);
    auto problem = check_upgrade_response(r, valid_request());
    ASSERT_TRUE(problem) << c.message;
    EXPECT_THAT(*problem, HasSubstr(c.message));
  }
}

TEST(CheckUpgradeResponseTest, AcceptsAnOfferedSubprotocol) {
  RequestHead request = valid_request();
  request.headers.add("Sec-WebSocket-Protocol", "chat.v1, chat.v2");
  ResponseHead r = valid_response();
  r.headers.add("Sec-WebSocket-Protocol", "chat.v2");
  EXPECT_FALSE(check_upgrade_response(r, request));
  r.headers.add("Sec-WebSocket-Protocol", "chat.v1");
  EXPECT_TRUE(check_upgrade_response(r, request));
}

TEST(DownstreamResponseTest, RelaysTheUpstreamsChoicesWithoutHopByHopFields) {
  ResponseHead r = valid_response();
  r.headers.add("Sec-WebSocket-Protocol", "chat.v2");
  r.headers.add("Sec-WebSocket-Extensions", "permessage-deflate");
  r.headers.add("Set-Cookie", "a=b");
  r.headers.add("Keep-Alive", "timeout=5");
  std::string out = downstream_response(r);
  EXPECT_EQ(out.substr(0, 34), "HTTP/1.1 101 Switching Protocols\r\n");
  EXPECT_THAT(out, HasSubstr("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
  EXPECT_THAT(out, HasSubstr("Sec-WebSocket-Protocol: chat.v2\r\n"));
  EXPECT_THAT(out, HasSubstr("Sec-WebSocket-Extensions: permessage-deflate\r\n"));
  EXPECT_THAT(out, HasSubstr("Set-Cookie: a=b\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("Keep-Alive")));
  EXPECT_THAT(out, HasSubstr("Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
}

}  // namespace
}  // namespace wsproxy::http

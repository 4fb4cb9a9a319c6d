// Tests of the strict HTTP/1.1 head parsers: what is accepted, and one case
// per way a head is refused.
#include "source/http/message.h"

#include <gtest/gtest.h>

namespace wsproxy::http {
namespace {

using namespace std::string_literals;

constexpr char kValid[] =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "Upgrade:websocket\r\n"
    "X-Spaces:   padded value \t\r\n"
    "X-Utf8: caf\xc3\xa9\r\n"
    "\r\n";

TEST(ParseRequestTest, ParsesLineAndFields) {
  ParseProblem problem;
  auto r = parse_request_head(kValid, problem);
  ASSERT_TRUE(r) << problem.detail;
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->target, "/chat?room=1");
  EXPECT_EQ(r->version_minor, 1);
  ASSERT_EQ(r->headers.size(), 4u);
  EXPECT_EQ(*r->headers.get("upgrade"), "websocket");
  EXPECT_EQ(*r->headers.get("x-spaces"), "padded value");
  EXPECT_EQ(*r->headers.get("x-utf8"), "caf\xc3\xa9");
}

TEST(ParseRequestTest, AcceptsHttp10ForTheCallerToRefuse) {
  ParseProblem problem;
  auto r = parse_request_head("GET / HTTP/1.0\r\n\r\n", problem);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version_minor, 0);
}

struct BadHead {
  const char* name;
  std::string head;
  ParseError error;
};

class BadRequestTest : public ::testing::TestWithParam<BadHead> {};

TEST_P(BadRequestTest, IsRefused) {
  ParseProblem problem;
  EXPECT_FALSE(parse_request_head(GetParam().head, problem));
  EXPECT_EQ(problem.error, GetParam().error) << problem.detail;
  EXPECT_FALSE(problem.detail.empty());
}

std::string many_headers(int n) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < n; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  return head + "\r\n";
}

INSTANTIATE_TEST_SUITE_P(
    Heads, BadRequestTest,
    ::testing::Values(
        BadHead{"Empty", "\r\n\r\n", ParseError::malformed},
        BadHead{"TwoWords", "GET /\r\n\r\n", ParseError::malformed},
        BadHead{"FourWords", "GET / x HTTP/1.1\r\n\r\n", ParseError::malformed},
        BadHead{"DoubleSpace", "GET  / HTTP/1.1\r\n\r\n", ParseError::malformed},
        BadHead{"MethodNotToken", "G(T / HTTP/1.1\r\n\r\n", ParseError::malformed},
        BadHead{"Http2", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ParseError::malformed},
        BadHead{"Http09", "GET /\r\n\r\n", ParseError::malformed},
        BadHead{"LowercaseVersion", "GET / http/1.1\r\n\r\n", ParseError::malformed},
        BadHead{"BareLf", "GET / HTTP/1.1\nHost: x\r\n\r\n", ParseError::malformed},
        BadHead{"BareCrInValue", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", ParseError::malformed},
        BadHead{"NulInValue", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"s, ParseError::malformed},
        BadHead{"DelInValue", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", ParseError::malformed},
        BadHead{"FoldedLine", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", ParseError::malformed},
        BadHead{"NoColon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", ParseError::malformed},
        BadHead{"EmptyName", "GET / HTTP/1.1\r\n: v\r\n\r\n", ParseError::malformed},
        BadHead{"SpaceBeforeColon", "GET / HTTP/1.1\r\nX : v\r\n\r\n", ParseError::malformed},
        BadHead{"NonTokenName", "GET / HTTP/1.1\r\nX\x01Y: v\r\n\r\n", ParseError::malformed},
        BadHead{"TooManyFields", many_headers(101), ParseError::too_many_headers}),
    [](const ::testing::TestParamInfo<BadHead>& info) { return info.param.name; });

TEST(ParseRequestTest, AcceptsExactlyTheMaximumFieldCount) {
  ParseProblem problem;
  EXPECT_TRUE(parse_request_head(many_headers(100), problem)) << problem.detail;
}

TEST(ParseResponseTest, ParsesA101) {
  ParseProblem problem;
  auto r = parse_response_head(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: chat\r\n\r\n", problem);
  ASSERT_TRUE(r) << problem.detail;
  EXPECT_EQ(r->status, 101);
  EXPECT_EQ(r->reason, "Switching Protocols");
  EXPECT_EQ(*r->headers.get("sec-websocket-protocol"), "chat");
}

TEST(ParseResponseTest, AcceptsAnEmptyReason) {
  ParseProblem problem;
  auto r = parse_response_head("HTTP/1.1 101\r\n\r\n", problem);
  ASSERT_TRUE(r) << problem.detail;
  EXPECT_EQ(r->status, 101);
}

TEST(ParseResponseTest, RefusesMalformedStatusLines) {
  for (const char* head : {"HTTP/1.1 1O1 OK\r\n\r\n", "HTTP/1.1 10\r\n\r\n", "SSH-2.0-OpenSSH\r\n\r\n",
                           "HTTP/1.1 101Switching\r\n\r\n", "HTTP/3.0 101 x\r\n\r\n"}) {
    ParseProblem problem;
    EXPECT_FALSE(parse_response_head(head, problem)) << head;
    EXPECT_EQ(problem.error, ParseError::malformed);
  }
}

TEST(FindHeadEndTest, FindsTheEmptyLineAcrossReads) {
  std::string data = "GET / HTTP/1.1\r\nHost: x\r\n\r";
  EXPECT_EQ(find_head_end(data, 0), 0u);
  std::size_t searched = data.size();
  data += "\nextra";
  EXPECT_EQ(find_head_end(data, searched), data.size() - 5);
}

}  // namespace
}  // namespace wsproxy::http

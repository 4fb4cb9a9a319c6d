// Tests of HeaderMap: case-insensitive lookup and comma-separated tokens.
#include "source/http/headers.h"

#include <gtest/gtest.h>

namespace wsproxy::http {
namespace {

TEST(HeaderMapTest, LookupIgnoresCase) {
  HeaderMap h;
  h.add("Sec-WebSocket-Key", "abc");
  ASSERT_NE(h.get("sec-websocket-key"), nullptr);
  EXPECT_EQ(*h.get("SEC-WEBSOCKET-KEY"), "abc");
  EXPECT_EQ(h.get("sec-websocket-keys"), nullptr);
}

TEST(HeaderMapTest, TokensSpanFieldsAndIgnoreSpaces) {
  HeaderMap h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("connection", " x-hop ,, ");
  auto tokens = h.tokens("CONNECTION");
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[0], "keep-alive");
  EXPECT_EQ(tokens[1], "Upgrade");
  EXPECT_EQ(tokens[2], "x-hop");
  EXPECT_TRUE(h.has_token("connection", "upgrade"));
  EXPECT_FALSE(h.has_token("connection", "upgrad"));
}

TEST(HeaderMapTest, SetReplacesEveryFieldOfTheName) {
  HeaderMap h;
  h.add("X-A", "1");
  h.add("Other", "o");
  h.add("x-a", "2");
  h.set("X-a", "3");
  EXPECT_EQ(h.count("x-a"), 1u);
  EXPECT_EQ(*h.get("x-a"), "3");
  h.remove("OTHER");
  EXPECT_EQ(h.size(), 1u);
}

TEST(HeaderMapTest, IequalsComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(iequals("WebSocket", "websocket"));
  EXPECT_FALSE(iequals("websocket", "websockets"));
  EXPECT_FALSE(iequals("a", "b"));
}

}  // namespace
}  // namespace wsproxy::http

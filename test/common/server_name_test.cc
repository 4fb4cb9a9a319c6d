// Tests of server name patterns (filter chain matching by SNI).
#include "source/common/server_name.h"

#include <gtest/gtest.h>

namespace wsproxy {
namespace {

TEST(ServerNameTest, ExactNamesMatchIgnoringCase) {
  EXPECT_TRUE(server_name_matches("chat.example.com", "CHAT.example.com"));
  EXPECT_FALSE(server_name_matches("chat.example.com", "chat.example.co"));
  EXPECT_FALSE(server_name_matches("chat.example.com", ""));
}

TEST(ServerNameTest, WildcardsMatchAnyNameBelowButNotTheApex) {
  EXPECT_TRUE(server_name_matches("*.example.com", "a.example.com"));
  EXPECT_TRUE(server_name_matches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(server_name_matches("*.example.com", "example.com"));
  EXPECT_FALSE(server_name_matches("*.example.com", "badexample.com"));
}

TEST(ServerNameTest, ValidPatterns) {
  EXPECT_TRUE(is_valid_server_name_pattern("chat.example.com"));
  EXPECT_TRUE(is_valid_server_name_pattern("*.example.com"));
  EXPECT_TRUE(is_valid_server_name_pattern("localhost"));
  EXPECT_FALSE(is_valid_server_name_pattern(""));
  EXPECT_FALSE(is_valid_server_name_pattern("a.*.com"));
  EXPECT_FALSE(is_valid_server_name_pattern("*"));
  EXPECT_FALSE(is_valid_server_name_pattern("a..com"));
  EXPECT_FALSE(is_valid_server_name_pattern("a com"));
}

}  // namespace
}  // namespace wsproxy

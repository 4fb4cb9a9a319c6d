// Tests of proto-text loading: strict parsing, positions in messages, and
// field paths resolved to positions for later (semantic) errors.
#include "source/config/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsproxy::config {
namespace {

using ::testing::HasSubstr;

std::optional<LoadedConfig> load(const std::string& text, ErrorList& errors) {
  return load_text(text, "test.textproto", "/etc/wsproxy", errors);
}

TEST(LoaderTest, ParsesAValidBootstrap) {
  ErrorList errors("test.textproto");
  auto loaded = load(R"(
    listeners { name: "a" address { address: "127.0.0.1" port: 80 } routes { path_prefix: "/" cluster: "c" } }
    clusters { name: "c" endpoints { address: "10.0.0.1" port: 9000 } }
  )", errors);
  ASSERT_TRUE(loaded) << errors.joined();
  EXPECT_EQ(loaded->bootstrap.listeners(0).address().port(), 80u);
  EXPECT_EQ(loaded->bootstrap.clusters(0).endpoints(0).address(), "10.0.0.1");
}

TEST(LoaderTest, UnknownFieldIsAnErrorWithLineAndColumn) {
  ErrorList errors("test.textproto");
  EXPECT_FALSE(load("listeners {\n  name: \"a\"\n  adress { }\n}\n", errors));
  ASSERT_EQ(errors.messages().size(), 1u);
  EXPECT_THAT(errors.messages()[0], HasSubstr("test.textproto:3:10:"));
  EXPECT_THAT(errors.messages()[0], HasSubstr("no field named \"adress\""));
}

TEST(LoaderTest, RepeatedSingularFieldIsAnError) {
  ErrorList errors("test.textproto");
  EXPECT_FALSE(load("listeners { name: \"a\" name: \"b\" }", errors));
  EXPECT_THAT(errors.joined(), HasSubstr("specified multiple times"));
}

TEST(LoaderTest, WrongValueTypeIsAnError) {
  ErrorList errors("test.textproto");
  EXPECT_FALSE(load("listeners { address { port: \"eighty\" } }", errors));
  EXPECT_THAT(errors.joined(), HasSubstr("test.textproto:1:29:"));
}

TEST(LoaderTest, UnknownAnyTypeIsAnError) {
  ErrorList errors("test.textproto");
  EXPECT_FALSE(load(R"(listeners { filter_chains { filters { typed_config {
      [type.googleapis.com/wsproxy.filters.nope.v1.Nope] { } } } } })", errors));
  EXPECT_THAT(errors.joined(), HasSubstr("wsproxy.filters.nope.v1.Nope"));
}

TEST(LoaderTest, MissingFileIsAnError) {
  ErrorList errors("/nonexistent.textproto");
  EXPECT_FALSE(load_file("/nonexistent.textproto", errors));
  EXPECT_THAT(errors.joined(), HasSubstr("/nonexistent.textproto: cannot read the config file"));
}

TEST(LoaderTest, RelativePathsResolveAgainstTheConfigDirectory) {
  ErrorList errors("test.textproto");
  auto loaded = load("", errors);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->resolve_path("tls/cert.pem"), "/etc/wsproxy/tls/cert.pem");
  EXPECT_EQ(loaded->resolve_path("/abs/cert.pem"), "/abs/cert.pem");
}

TEST(FieldScopeTest, ErrorsNameTheFieldPathAndItsPosition) {
  ErrorList errors("test.textproto");
  auto loaded = load(R"(listeners {
  name: "public"
  routes { path_prefix: "/" cluster: "x" }
  routes {
    path_prefix: "/chat"
    cluster: "y"
  }
}
listeners { }
)", errors);
  ASSERT_TRUE(loaded);
  FieldScope root = loaded->root(errors);
  root.child("listeners", 0).child("routes", 1).error("cluster", "no such cluster");
  root.child("listeners", 1).error("name", "is required");
  root.child("listeners", 0).child("tls").error("certificates", "needs one");
  root.error("empty");
  ASSERT_EQ(errors.messages().size(), 4u);
  EXPECT_EQ(errors.messages()[0], "test.textproto:6:5: listeners[\"public\"].routes[1].cluster: no such cluster");
  // An unset field is reported at its enclosing message.
  EXPECT_EQ(errors.messages()[1], "test.textproto:9:1: listeners[1].name: is required");
  EXPECT_EQ(errors.messages()[2], "test.textproto:1:1: listeners[\"public\"].tls.certificates: needs one");
  EXPECT_EQ(errors.messages()[3], "test.textproto: config: empty");
}

}  // namespace
}  // namespace wsproxy::config

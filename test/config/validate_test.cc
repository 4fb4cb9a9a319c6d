// Tests of the static config checks: each rule, one case per row.
#include "source/config/validate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsproxy::config {
namespace {

using ::testing::HasSubstr;

constexpr char kCluster[] = R"(clusters { name: "c" endpoints { address: "127.0.0.1" port: 9000 } })";

std::string listener(const std::string& body) {
  return R"(listeners { name: "l" address { address: "127.0.0.1" port: 8080 } routes { path_prefix: "/" cluster: "c" } )" +
         body + " }\n" + kCluster;
}

std::string check(const std::string& text) {
  ErrorList errors("t");
  auto loaded = load_text(text, "t", ".", errors);
  if (!loaded) return "PARSE: " + errors.joined();
  validate(*loaded, errors);
  return errors.joined();
}

TEST(ValidateTest, AcceptsAMinimalConfig) { EXPECT_EQ(check(listener("")), ""); }

TEST(ValidateTest, AcceptsAnEmptyConfig) { EXPECT_EQ(check(""), ""); }

struct Case {
  const char* name;
  std::string text;
  const char* expected;
};

class ValidateErrorTest : public ::testing::TestWithParam<Case> {};

TEST_P(ValidateErrorTest, ReportsTheFieldAndTheProblem) {
  EXPECT_THAT(check(GetParam().text), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ValidateErrorTest,
    ::testing::Values(
        Case{"ListenerWithoutName",
             std::string(R"(listeners { address { address: "127.0.0.1" } routes { path_prefix: "/" cluster: "c" } })") + kCluster,
             "listeners[0].name: a listener needs a name"},
        Case{"BadName", listener("").replace(listener("").find("\"l\""), 3, "\"l/x\""), "is not a valid name"},
        Case{"DuplicateListener", listener("") + listener("").substr(0, listener("").find("clusters")),
             "another listener is already named \"l\""},
        Case{"MissingAddress",
             std::string(R"(listeners { name: "l" routes { path_prefix: "/" cluster: "c" } })") + kCluster,
             "listeners[\"l\"].address: an address is required"},
        Case{"HostNameAsListenAddress", listener("").replace(listener("").find("127.0.0.1"), 9, "localhost"),
             "\"localhost\" is not an IP address"},
        Case{"PortTooLarge", listener("").replace(listener("").find("8080"), 4, "65536"), "port: must be at most 65535"},
        Case{"TlsWithoutCertificate", listener("tls { }"), "tls.certificates: TLS needs at least one certificate"},
        Case{"ClientCertificateWithoutCa",
             listener(R"(tls { certificates { certificate_chain_file: "c" private_key_file: "k" } client_certificate { } })"),
             "tls.client_certificate.ca_file: is required"},
        Case{"BadForwardHeader",
             listener(R"(tls { certificates { certificate_chain_file: "c" private_key_file: "k" } client_certificate { ca_file: "x" forward_header: "a b" } })"),
             "client_certificate.forward_header: \"a b\" is not a header name"},
        Case{"EmptyAlpn",
             listener(R"(tls { certificates { certificate_chain_file: "c" private_key_file: "k" } alpn_protocols: "" })"),
             "tls.alpn_protocols: each protocol needs 1 to 255 bytes"},
        Case{"ChainWithoutName", listener("filter_chains { }"), "filter_chains[0].name: a filter chain needs a name"},
        Case{"ChainNamesAreGlobal",
             listener(R"(filter_chains { name: "x" })") +
                 R"(listeners { name: "m" address { address: "127.0.0.1" port: 8081 } routes { path_prefix: "/" cluster: "c" } filter_chains { name: "x" } })",
             "another filter chain is already named \"x\""},
        Case{"TwoDefaultChains", listener(R"(filter_chains { name: "a" } filter_chains { name: "b" })"),
             "filter_chains[\"b\"].match: only one filter chain per listener can be without a match"},
        Case{"BadServerName", listener(R"(filter_chains { name: "a" match { server_names: "a.*.com" } })"),
             "match.server_names: \"a.*.com\" is not a server name"},
        Case{"ChainPathWithoutSlash", listener(R"(filter_chains { name: "a" match { path_prefixes: "admin" } })"),
             "match.path_prefixes: \"admin\" must start with '/'"},
        Case{"ChainTlsWithoutListenerTls",
             listener(R"(filter_chains { name: "a" match { server_names: "x.com" } tls { certificates { certificate_chain_file: "c" private_key_file: "k" } } })"),
             "filter_chains[\"a\"].tls: a chain's TLS needs TLS on the listener too"},
        Case{"ChainTlsWithoutServerNames",
             listener(R"(tls { certificates { certificate_chain_file: "c" private_key_file: "k" } } filter_chains { name: "a" match { path_prefixes: "/x" } tls { certificates { certificate_chain_file: "c" private_key_file: "k" } } })"),
             "a chain's TLS is chosen by server name"},
        Case{"FilterWithoutName", listener(R"(filter_chains { name: "a" filters { } })"),
             "filters[0].name: a filter in this chain needs a name"},
        Case{"DuplicateFilterName",
             listener(R"(filter_chains { name: "a" filters { name: "f" } filters { name: "f" } })"),
             "another filter in this chain is already named \"f\""},
        Case{"TlsCertificateWithoutKey", listener(R"(tls { certificates { certificate_chain_file: "c.pem" } })"),
             "certificates[0].private_key_file: is required"},
        Case{"TlsVersionsReversed",
             listener(R"(tls { certificates { certificate_chain_file: "c" private_key_file: "k" } min_version: TLS_VERSION_1_3 max_version: TLS_VERSION_1_2 })"),
             "tls.max_version: is older than min_version"},
        Case{"NoRoutes",
             std::string(R"(listeners { name: "l" address { address: "127.0.0.1" } })") + kCluster,
             "routes: a listener needs at least one route"},
        Case{"RouteWithoutSlash", listener(R"(routes { path_prefix: "chat" cluster: "c" })"),
             "routes[1].path_prefix: must start with '/'"},
        Case{"RouteToUnknownCluster", listener(R"(routes { path_prefix: "/x" cluster: "d" })"),
             "routes[1].cluster: no cluster is named \"d\""},
        Case{"RouteWithoutCluster", listener(R"(routes { path_prefix: "/x" })"), "routes[1].cluster: is required"},
        Case{"NegativeTimeout", listener("timeouts { idle_timeout { seconds: -5 } }"),
             "timeouts.idle_timeout: must be a non-negative duration"},
        Case{"ZeroHandshakeTimeout", listener("timeouts { handshake_timeout { } }"),
             "timeouts.handshake_timeout: must be at least 1 ms"},
        Case{"ZeroMaxConnections", listener("limits { max_connections: 0 }"), "limits.max_connections: must be at least 1"},
        Case{"TinyHeaderLimit", listener("limits { max_request_header_bytes: 100 }"),
             "limits.max_request_header_bytes: must be between 512 and 1048576"},
        Case{"FilterWithoutConfig", listener(R"(filter_chains { name: "a" filters { name: "f" } })"),
             "filters[\"f\"].typed_config: is required"},
        Case{"SameAddressTwice",
             listener("") + R"(listeners { name: "m" address { address: "127.0.0.1" port: 8080 } routes { path_prefix: "/" cluster: "c" } })",
             "another listener already uses 127.0.0.1:8080"},
        Case{"EndpointWithoutPort", std::string(R"(clusters { name: "d" endpoints { address: "127.0.0.1" } })"),
             "clusters[\"d\"].endpoints[0].port: must be between 1 and 65535"},
        Case{"EndpointWithoutAddress", std::string(R"(clusters { name: "d" endpoints { port: 1 } })"),
             "endpoints[0].address: is required"},
        Case{"ZeroConnectTimeout", std::string(R"(clusters { name: "d" connect_timeout { } })"),
             "clusters[\"d\"].connect_timeout: must be at least 1 ms"},
        Case{"AdminHostName", listener("") + R"(admin { address { address: "admin.local" port: 9901 } })",
             "admin.address.address: \"admin.local\" is not an IP address"},
        Case{"ZeroGlobalMaxConnections", listener("") + "limits { max_connections: 0 }",
             "limits.max_connections: must be at least 1"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(ValidateTest, NamesMayUseLettersDigitsAndPunctuation) {
  EXPECT_TRUE(is_valid_name("chat-v2.eu_west"));
  EXPECT_FALSE(is_valid_name(""));
  EXPECT_FALSE(is_valid_name("has space"));
  EXPECT_FALSE(is_valid_name(std::string(65, 'a')));
}

}  // namespace
}  // namespace wsproxy::config

// Static config checks.
#include "source/config/validate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "source/common/server_name.h"
#include "source/config/duration.h"

namespace wsproxy::config {
namespace {

using v1::Bootstrap;

bool is_ip_literal(const std::string& address) {
  unsigned char buf[16];
  return inet_pton(AF_INET, address.c_str(), buf) == 1 || inet_pton(AF_INET6, address.c_str(), buf) == 1;
}

void check_name(const FieldScope& scope, const std::string& name, std::set<std::string>& seen,
                const char* what) {
  if (name.empty()) {
    scope.error("name", std::string("a ") + what + " needs a name");
  } else if (!is_valid_name(name)) {
    scope.error("name", "\"" + name + "\" is not a valid name: use 1 to 64 letters, digits, '_', '-', '.'");
  } else if (!seen.insert(name).second) {
    scope.error("name", std::string("another ") + what + " is already named \"" + name + "\"");
  }
}

void check_duration(const FieldScope& scope, const char* field, bool present,
                    const google::protobuf::Duration& d, bool zero_allowed) {
  if (!present) return;
  if (!is_valid_non_negative(d)) {
    scope.error(field, "must be a non-negative duration (seconds >= 0, 0 <= nanos < 1e9)");
  } else if (!zero_allowed && d.seconds() == 0 && d.nanos() < 1000000) {
    scope.error(field, "must be at least 1 ms");
  }
}

void check_listen_address(const FieldScope& scope, const char* field, bool present, const v1::SocketAddress& address) {
  if (!present) {
    scope.error(field, "an address is required");
    return;
  }
  auto a = scope.child(field);
  if (!is_ip_literal(address.address())) {
    a.error("address", "\"" + address.address() + "\" is not an IP address (for example 127.0.0.1 or ::1)");
  }
  if (address.port() > 65535) a.error("port", "must be at most 65535");
}

void check_tls_versions(const FieldScope& scope, v1::TlsVersion min, v1::TlsVersion max) {
  if (min != v1::TLS_VERSION_UNSPECIFIED && max != v1::TLS_VERSION_UNSPECIFIED && min > max) {
    scope.error("max_version", "is older than min_version");
  }
}

bool is_token(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string("!#$%&'*+-.^_`|~").find(c) != std::string::npos;
    if (!ok) return false;
  }
  return true;
}

void check_downstream_tls(const FieldScope& scope, const v1::DownstreamTlsContext& tls) {
  if (tls.certificates_size() == 0) scope.error("certificates", "TLS needs at least one certificate");
  for (int i = 0; i < tls.certificates_size(); ++i) {
    const auto& cert = tls.certificates(i);
    auto c = scope.child("certificates", i);
    if (cert.certificate_chain_file().empty()) c.error("certificate_chain_file", "is required");
    if (cert.private_key_file().empty()) c.error("private_key_file", "is required");
  }
  check_tls_versions(scope, tls.min_version(), tls.max_version());
  for (const auto& protocol : tls.alpn_protocols()) {
    if (protocol.empty() || protocol.size() > 255) scope.error("alpn_protocols", "each protocol needs 1 to 255 bytes");
  }
  if (tls.has_client_certificate()) {
    auto v = scope.child("client_certificate");
    if (tls.client_certificate().ca_file().empty()) v.error("ca_file", "is required to verify client certificates");
    const std::string& header = tls.client_certificate().forward_header();
    if (!header.empty() && !is_token(header)) v.error("forward_header", "\"" + header + "\" is not a header name");
  }
}

void check_filter_chains(const FieldScope& scope, const v1::Listener& listener, std::set<std::string>& chain_names) {
  bool has_default = false;
  for (int i = 0; i < listener.filter_chains_size(); ++i) {
    const auto& chain = listener.filter_chains(i);
    auto c = scope.child("filter_chains", i);
    check_name(c, chain.name(), chain_names, "filter chain");
    if (!chain.has_match() || (chain.match().server_names().empty() && chain.match().path_prefixes().empty())) {
      if (has_default) c.error("match", "only one filter chain per listener can be without a match (the default)");
      has_default = true;
    }
    auto m = c.child("match");
    for (const auto& name : chain.match().server_names()) {
      if (!is_valid_server_name_pattern(name)) {
        m.error("server_names", "\"" + name + "\" is not a server name or a *.wildcard pattern");
      }
    }
    for (const auto& prefix : chain.match().path_prefixes()) {
      if (prefix.empty() || prefix[0] != '/') m.error("path_prefixes", "\"" + prefix + "\" must start with '/'");
    }
    if (chain.has_tls()) {
      if (!listener.has_tls()) {
        c.error("tls", "a chain's TLS needs TLS on the listener too (the default for other server names)");
      }
      if (chain.match().server_names().empty()) {
        c.error("tls", "a chain's TLS is chosen by server name: give match.server_names");
      }
      check_downstream_tls(c.child("tls"), chain.tls());
    }
    std::set<std::string> filter_names;
    for (int j = 0; j < chain.filters_size(); ++j) {
      auto filter = c.child("filters", j);
      check_name(filter, chain.filters(j).name(), filter_names, "filter in this chain");
      if (!chain.filters(j).has_typed_config()) {
        filter.error("typed_config", "is required: it selects and configures the filter");
      }
    }
  }
}

void check_listener(const FieldScope& scope, const v1::Listener& listener,
                    const std::set<std::string>& cluster_names) {
  check_listen_address(scope, "address", listener.has_address(), listener.address());
  if (listener.has_tls()) check_downstream_tls(scope.child("tls"), listener.tls());
  if (listener.routes_size() == 0) {
    scope.error("routes", "a listener needs at least one route");
  }
  for (int i = 0; i < listener.routes_size(); ++i) {
    const auto& route = listener.routes(i);
    auto r = scope.child("routes", i);
    if (route.path_prefix().empty() || route.path_prefix()[0] != '/') {
      r.error("path_prefix", "must start with '/'");
    }
    if (route.cluster().empty()) {
      r.error("cluster", "is required");
    } else if (cluster_names.count(route.cluster()) == 0) {
      r.error("cluster", "no cluster is named \"" + route.cluster() + "\"");
    }
  }
  if (listener.has_timeouts()) {
    auto t = scope.child("timeouts");
    check_duration(t, "handshake_timeout", listener.timeouts().has_handshake_timeout(),
                   listener.timeouts().handshake_timeout(), false);
    check_duration(t, "idle_timeout", listener.timeouts().has_idle_timeout(),
                   listener.timeouts().idle_timeout(), true);
  }
  if (listener.has_limits()) {
    auto l = scope.child("limits");
    const auto& limits = listener.limits();
    if (limits.has_max_connections() && limits.max_connections() == 0) {
      l.error("max_connections", "must be at least 1");
    }
    if (limits.has_max_request_header_bytes() &&
        (limits.max_request_header_bytes() < 512 || limits.max_request_header_bytes() > 1048576)) {
      l.error("max_request_header_bytes", "must be between 512 and 1048576");
    }
  }
}

void check_cluster(const FieldScope& scope, const v1::Cluster& cluster) {
  for (int i = 0; i < cluster.endpoints_size(); ++i) {
    const auto& endpoint = cluster.endpoints(i);
    auto e = scope.child("endpoints", i);
    if (endpoint.address().empty()) e.error("address", "is required");
    if (endpoint.port() == 0 || endpoint.port() > 65535) e.error("port", "must be between 1 and 65535");
  }
  check_duration(scope, "connect_timeout", cluster.has_connect_timeout(), cluster.connect_timeout(), false);
  if (cluster.has_tls()) check_tls_versions(scope.child("tls"), cluster.tls().min_version(), v1::TLS_VERSION_UNSPECIFIED);
}

bool is_loopback(const std::string& address) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, address.c_str(), buf) == 1) return buf[0] == 127;
  if (inet_pton(AF_INET6, address.c_str(), buf) == 1) {
    static const unsigned char kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::equal(buf, buf + 16, kLoopback6);
  }
  return false;
}

void check_admin(const FieldScope& scope, const v1::Admin& admin) {
  if (admin.has_address()) {
    check_listen_address(scope, "address", true, admin.address());
    if (is_ip_literal(admin.address().address()) && !is_loopback(admin.address().address()) && !admin.has_tls() &&
        admin.bearer_token().empty()) {
      scope.child("address").error(
          "address", "\"" + admin.address().address() + "\"" +
                         " is not a loopback address: anyone who reaches it could reload the config or drain the "
                         "proxy; give admin.tls or admin.bearer_token, or bind 127.0.0.1");
    }
  }
  if (admin.has_http_address()) check_listen_address(scope, "http_address", true, admin.http_address());
  if (admin.has_tls()) {
    auto tls = scope.child("tls");
    if (!admin.tls().has_certificate()) {
      tls.error("certificate", "is required");
    } else {
      auto c = tls.child("certificate");
      if (admin.tls().certificate().certificate_chain_file().empty()) c.error("certificate_chain_file", "is required");
      if (admin.tls().certificate().private_key_file().empty()) c.error("private_key_file", "is required");
    }
  }
}

}  // namespace

bool is_valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void validate(const LoadedConfig& config, ErrorList& errors) {
  const Bootstrap& bootstrap = config.bootstrap;
  FieldScope root = config.root(errors);

  std::set<std::string> cluster_names;
  for (int i = 0; i < bootstrap.clusters_size(); ++i) {
    auto scope = root.child("clusters", i);
    check_name(scope, bootstrap.clusters(i).name(), cluster_names, "cluster");
    check_cluster(scope, bootstrap.clusters(i));
  }

  std::set<std::string> listener_names;
  std::set<std::string> chain_names;
  std::set<std::pair<std::string, uint32_t>> addresses;
  for (int i = 0; i < bootstrap.listeners_size(); ++i) {
    const auto& listener = bootstrap.listeners(i);
    auto scope = root.child("listeners", i);
    check_name(scope, listener.name(), listener_names, "listener");
    check_listener(scope, listener, cluster_names);
    check_filter_chains(scope, listener, chain_names);
    const auto& a = listener.address();
    if (listener.has_address() && a.port() != 0 && !addresses.insert({a.address(), a.port()}).second) {
      scope.error("address", "another listener already uses " + a.address() + ":" + std::to_string(a.port()));
    }
  }

  if (bootstrap.has_admin()) check_admin(root.child("admin"), bootstrap.admin());
  if (bootstrap.has_drain()) {
    auto d = root.child("drain");
    const auto& drain = bootstrap.drain();
    check_duration(d, "shutdown_grace_period", drain.has_shutdown_grace_period(), drain.shutdown_grace_period(), true);
    check_duration(d, "shutdown_timeout", drain.has_shutdown_timeout(), drain.shutdown_timeout(), true);
    check_duration(d, "reload_drain_period", drain.has_reload_drain_period(), drain.reload_drain_period(), true);
  }
  if (bootstrap.has_limits() && bootstrap.limits().has_max_connections() &&
      bootstrap.limits().max_connections() == 0) {
    root.child("limits").error("max_connections", "must be at least 1");
  }
}

}  // namespace wsproxy::config

// A listener's settings at run time, built from config and never changed:
// a connection keeps the ListenerConfig it was accepted with.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "source/filter/chain.h"
#include "source/network/tls_server_context.h"
#include "source/stats/stats.h"
#include "source/upstream/cluster.h"

namespace wsproxy::proxy {

struct Route {
  std::string path_prefix;
  std::shared_ptr<const upstream::Cluster> cluster;
};

struct ListenerStats {
  ListenerStats(stats::Store& store, const std::string& listener_name);
  // downstream_rq_<status>: answers by HTTP status (101 for upgrades).
  stats::Counter& responses(int status) const;

  stats::Store& store;
  const std::string prefix;  // "listener.<name>."
  stats::Counter& rq_upgraded;  // downstream_rq_101, the hot one, made up front
  stats::Counter& cx_total;
  stats::Gauge& cx_active;
  stats::Counter& cx_overflow;
  stats::Counter& cx_tls_handshake_error;
  stats::Counter& cx_handshake_timeout;
  stats::Counter& cx_idle_timeout;
  stats::Counter& cx_planned_close;  // ended by the proxy at a set time: drain, token expiry
  stats::Counter& message_too_big;   // a client's message past max_message_bytes
  stats::Counter& cx_closed_by_client;    // by who ended each connection
  stats::Counter& cx_closed_by_upstream;
  stats::Counter& cx_closed_by_proxy;
  stats::Counter& cx_accept_error;
  stats::Counter& rx_bytes;
  stats::Counter& tx_bytes;
  stats::Counter& messages_rx;
  stats::Counter& messages_tx;
  stats::Histogram& upgrade_ms;  // accept to 101 relayed
};

struct ListenerConfig {
  // The first route whose prefix starts `path`, or null.
  const Route* route_for(std::string_view path) const;
  // The first chain with a match that fits, else the default chain, else
  // null (with chains configured: no chain applies).
  const filter::FilterChain* chain_for(std::string_view server_name, std::string_view path) const;
  // True if choosing a chain needs the request path (else the server name,
  // known right after the TLS handshake, is enough).
  bool chains_need_path() const;

  std::string name;
  std::string address;
  uint16_t port = 0;
  std::shared_ptr<const network::TlsServerSelector> tls;  // null: plain ws://
  std::vector<Route> routes;
  std::vector<std::shared_ptr<const filter::FilterChain>> chains;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds idle_timeout{3600000};  // zero: none
  uint32_t max_connections = 10000;
  uint32_t max_request_header_bytes = 16384;
  uint64_t max_message_bytes = 16 << 20;  // from clients; zero: none
  std::shared_ptr<ListenerStats> stats;
  uint64_t config_version = 0;  // of the snapshot this came from
};

}  // namespace wsproxy::proxy

// An upstream cluster at run time: its endpoints (resolved when the config
// is loaded), its TLS client context and its stats. Shared by all workers;
// the only mutable state is the round-robin position, an atomic.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "source/config/loader.h"
#include "source/network/tls_client_context.h"
#include "source/stats/stats.h"

namespace wsproxy::upstream {

struct Endpoint {
  std::string host;  // as configured: names TLS verification and SNI
  uint16_t port = 0;
  boost::asio::ip::tcp::endpoint address;
  std::string display;  // host:port, for logs
};

struct ClusterStats {
  ClusterStats(stats::Store& store, const std::string& cluster_name);
  stats::Counter& cx_total;
  stats::Gauge& cx_active;
  stats::Counter& cx_connect_fail;
  stats::Counter& cx_connect_timeout;
  stats::Counter& cx_tls_error;
  stats::Counter& handshake_rejected;  // no valid 101 from the upstream
  stats::Counter& cx_none_available;
  stats::Counter& rx_bytes;
  stats::Counter& tx_bytes;
  stats::Histogram& connect_ms;  // TCP connect, TLS and the 101
};

class Cluster {
 public:
  // Returns null after reporting problems (an unresolvable host, an
  // unreadable CA file...) to `scope`.
  static std::shared_ptr<Cluster> create(const config::v1::Cluster& proto, const config::LoadedConfig& config,
                                         const config::FieldScope& scope, stats::Store& store);

  const std::string& name() const { return name_; }
  // The next endpoint in turn, or null when there is none.
  const Endpoint* pick() const;
  // Null for plain (ws://) clusters.
  const network::TlsClientContext* tls() const { return tls_.get(); }
  std::chrono::milliseconds connect_timeout() const { return connect_timeout_; }
  ClusterStats& stats() const { return *stats_; }

 private:
  Cluster() = default;

  std::string name_;
  std::vector<Endpoint> endpoints_;
  std::shared_ptr<const network::TlsClientContext> tls_;
  std::chrono::milliseconds connect_timeout_{5000};
  std::unique_ptr<ClusterStats> stats_;
  mutable std::atomic<uint32_t> next_{0};
};

}  // namespace wsproxy::upstream

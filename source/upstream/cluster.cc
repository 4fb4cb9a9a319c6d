// Upstream clusters.
#include "source/upstream/cluster.h"

#include "source/config/duration.h"

namespace wsproxy::upstream {
namespace {

using boost::asio::ip::tcp;

std::string stat_name(const std::string& cluster, const char* stat) { return "cluster." + cluster + "." + stat; }

}  // namespace

ClusterStats::ClusterStats(stats::Store& store, const std::string& c)
    : cx_total(store.counter(stat_name(c, "upstream_cx_total"))),
      cx_active(store.gauge(stat_name(c, "upstream_cx_active"))),
      cx_connect_fail(store.counter(stat_name(c, "upstream_cx_connect_fail"))),
      cx_connect_timeout(store.counter(stat_name(c, "upstream_cx_connect_timeout"))),
      cx_tls_error(store.counter(stat_name(c, "upstream_cx_tls_error"))),
      handshake_rejected(store.counter(stat_name(c, "upstream_handshake_rejected"))),
      cx_none_available(store.counter(stat_name(c, "upstream_cx_none_available"))),
      rx_bytes(store.counter(stat_name(c, "upstream_cx_rx_bytes_total"))),
      tx_bytes(store.counter(stat_name(c, "upstream_cx_tx_bytes_total"))),
      connect_ms(store.histogram(stat_name(c, "upstream_handshake_ms"))) {}

std::shared_ptr<Cluster> Cluster::create(const config::v1::Cluster& proto, const config::LoadedConfig& config,
                                         const config::FieldScope& scope, stats::Store& store) {
  std::shared_ptr<Cluster> cluster(new Cluster());
  cluster->name_ = proto.name();
  if (proto.has_connect_timeout()) cluster->connect_timeout_ = config::to_milliseconds(proto.connect_timeout());
  bool ok = true;
  if (proto.has_tls()) {
    cluster->tls_ = network::TlsClientContext::create(proto.tls(), config, scope.child("tls"));
    ok = cluster->tls_ != nullptr;
  }
  // Names are resolved now, once, so a typo fails the load rather than
  // every connection later; reloading the config resolves them again.
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  for (int i = 0; i < proto.endpoints_size(); ++i) {
    const auto& e = proto.endpoints(i);
    boost::system::error_code ec;
    auto results = resolver.resolve(e.address(), std::to_string(e.port()), tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      scope.child("endpoints", i).error("address", "cannot resolve \"" + e.address() + "\": " + ec.message());
      ok = false;
      continue;
    }
    Endpoint endpoint;
    endpoint.host = e.address();
    endpoint.port = static_cast<uint16_t>(e.port());
    endpoint.address = results.begin()->endpoint();
    endpoint.display = e.address() + ":" + std::to_string(e.port());
    cluster->endpoints_.push_back(std::move(endpoint));
  }
  cluster->stats_ = std::make_unique<ClusterStats>(store, cluster->name_);
  return ok ? cluster : nullptr;
}

const Endpoint* Cluster::pick() const {
  if (endpoints_.empty()) return nullptr;
  return &endpoints_[next_.fetch_add(1, std::memory_order_relaxed) % endpoints_.size()];
}

}  // namespace wsproxy::upstream

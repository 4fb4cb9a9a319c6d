// Listener settings and stats.
#include "source/proxy/listener_config.h"

namespace wsproxy::proxy {

ListenerStats::ListenerStats(stats::Store& s, const std::string& listener_name)
    : store(s),
      prefix("listener." + listener_name + "."),
      rq_upgraded(s.counter(prefix + "downstream_rq_101")),
      cx_total(s.counter(prefix + "downstream_cx_total")),
      cx_active(s.gauge(prefix + "downstream_cx_active")),
      cx_overflow(s.counter(prefix + "downstream_cx_overflow")),
      cx_tls_handshake_error(s.counter(prefix + "downstream_cx_tls_handshake_error")),
      cx_handshake_timeout(s.counter(prefix + "downstream_cx_handshake_timeout")),
      cx_idle_timeout(s.counter(prefix + "downstream_cx_idle_timeout")),
      cx_planned_close(s.counter(prefix + "downstream_cx_planned_close")),
      message_too_big(s.counter(prefix + "downstream_message_too_big")),
      cx_closed_by_client(s.counter(prefix + "downstream_cx_closed_by_client")),
      cx_closed_by_upstream(s.counter(prefix + "downstream_cx_closed_by_upstream")),
      cx_closed_by_proxy(s.counter(prefix + "downstream_cx_closed_by_proxy")),
      cx_accept_error(s.counter(prefix + "downstream_cx_accept_error")),
      rx_bytes(s.counter(prefix + "downstream_cx_rx_bytes_total")),
      tx_bytes(s.counter(prefix + "downstream_cx_tx_bytes_total")),
      messages_rx(s.counter(prefix + "downstream_messages_rx_total")),
      messages_tx(s.counter(prefix + "downstream_messages_tx_total")),
      upgrade_ms(s.histogram(prefix + "downstream_upgrade_ms")) {}

stats::Counter& ListenerStats::responses(int status) const {
  return store.counter(prefix + "downstream_rq_" + std::to_string(status));
}

const Route* ListenerConfig::route_for(std::string_view path) const {
  for (const auto& route : routes) {
    if (path.substr(0, route.path_prefix.size()) == route.path_prefix) return &route;
  }
  return nullptr;
}

const filter::FilterChain* ListenerConfig::chain_for(std::string_view server_name, std::string_view path) const {
  const filter::FilterChain* fallback = nullptr;
  for (const auto& chain : chains) {
    if (chain->is_default()) {
      fallback = chain.get();
    } else if (chain->matches(server_name, path)) {
      return chain.get();
    }
  }
  return fallback;
}

bool ListenerConfig::chains_need_path() const {
  for (const auto& chain : chains) {
    if (chain->has_path_prefixes()) return true;
  }
  return false;
}

}  // namespace wsproxy::proxy

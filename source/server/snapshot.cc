// Building runtime objects from config.
#include "source/server/snapshot.h"

#include <openssl/sha.h>

#include <map>

#include "source/config/duration.h"
#include "source/config/validate.h"

namespace wsproxy::server {
namespace {

using config::FieldScope;

std::shared_ptr<proxy::ListenerConfig> build_listener(
    const config::v1::Listener& proto, const config::LoadedConfig& loaded, const FieldScope& scope,
    const std::map<std::string, std::shared_ptr<const upstream::Cluster>>& clusters, stats::Store& store,
    uint64_t version) {
  auto listener = std::make_shared<proxy::ListenerConfig>();
  listener->name = proto.name();
  listener->config_version = version;
  listener->address = proto.address().address();
  listener->port = static_cast<uint16_t>(proto.address().port());
  bool ok = true;
  if (proto.has_tls()) {
    auto listener_tls = network::TlsServerContext::create(proto.tls(), loaded, scope.child("tls"));
    std::vector<network::TlsServerSelector::ByServerName> chain_tls;
    for (int i = 0; i < proto.filter_chains_size(); ++i) {
      const auto& chain = proto.filter_chains(i);
      if (!chain.has_tls()) continue;
      auto context = network::TlsServerContext::create(chain.tls(), loaded, scope.child("filter_chains", i).child("tls"));
      if (context == nullptr) {
        ok = false;
        continue;
      }
      chain_tls.push_back({{chain.match().server_names().begin(), chain.match().server_names().end()}, context});
    }
    if (listener_tls == nullptr) {
      ok = false;
    } else if (ok) {
      listener->tls = std::make_shared<network::TlsServerSelector>(listener_tls, std::move(chain_tls));
    }
  }
  for (int i = 0; i < proto.filter_chains_size(); ++i) {
    auto chain = filter::FilterChain::create(proto.filter_chains(i), loaded, scope.child("filter_chains", i), store);
    if (chain == nullptr) {
      ok = false;
    } else {
      listener->chains.push_back(std::move(chain));
    }
  }
  for (const auto& route : proto.routes()) {
    listener->routes.push_back({route.path_prefix(), clusters.at(route.cluster())});
  }
  const auto& timeouts = proto.timeouts();
  if (timeouts.has_handshake_timeout()) {
    listener->handshake_timeout = config::to_milliseconds(timeouts.handshake_timeout());
  }
  if (timeouts.has_idle_timeout()) listener->idle_timeout = config::to_milliseconds(timeouts.idle_timeout());
  const auto& limits = proto.limits();
  if (limits.has_max_connections()) listener->max_connections = limits.max_connections();
  if (limits.has_max_request_header_bytes()) listener->max_request_header_bytes = limits.max_request_header_bytes();
  if (limits.has_max_message_bytes()) listener->max_message_bytes = limits.max_message_bytes();
  listener->stats = std::make_shared<proxy::ListenerStats>(store, listener->name);
  return ok ? listener : nullptr;
}

std::string sha256_hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += hex[b >> 4];
    out += hex[b & 0xF];
  }
  return out;
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(config::LoadedConfig loaded, uint64_t version, stats::Store& store,
                                               config::ErrorList& errors) {
  config::validate(loaded, errors);
  if (!errors.empty()) return nullptr;

  auto snapshot = std::make_shared<Snapshot>();
  const auto& bootstrap = loaded.bootstrap;
  FieldScope root = loaded.root(errors);
  std::map<std::string, std::shared_ptr<const upstream::Cluster>> clusters;
  for (int i = 0; i < bootstrap.clusters_size(); ++i) {
    auto cluster = upstream::Cluster::create(bootstrap.clusters(i), loaded, root.child("clusters", i), store);
    if (cluster == nullptr) continue;
    clusters[cluster->name()] = cluster;
    snapshot->clusters.push_back(std::move(cluster));
  }
  if (!errors.empty()) return nullptr;
  for (int i = 0; i < bootstrap.listeners_size(); ++i) {
    auto listener =
        build_listener(bootstrap.listeners(i), loaded, root.child("listeners", i), clusters, store, version);
    if (listener != nullptr) snapshot->listeners.push_back(std::move(listener));
  }
  if (!errors.empty()) return nullptr;
  if (bootstrap.limits().has_max_connections()) snapshot->max_connections = bootstrap.limits().max_connections();
  snapshot->access_log_path = loaded.resolve_path(bootstrap.access_log().path());
  snapshot->access_log_disabled = bootstrap.access_log().disabled();
  const auto& drain = bootstrap.drain();
  if (drain.has_shutdown_grace_period()) snapshot->shutdown_grace_period = config::to_milliseconds(drain.shutdown_grace_period());
  if (drain.has_shutdown_timeout()) snapshot->shutdown_timeout = config::to_milliseconds(drain.shutdown_timeout());
  if (drain.has_reload_drain_period()) snapshot->reload_drain_period = config::to_milliseconds(drain.reload_drain_period());
  snapshot->version = version;
  snapshot->sha256 = sha256_hex(loaded.text);
  snapshot->config = std::move(loaded);
  return snapshot;
}

}  // namespace wsproxy::server

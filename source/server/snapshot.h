// A loaded configuration turned into everything the data path needs:
// listener settings, clusters, TLS contexts. Built completely (and every
// error found) before anything runs with it; immutable afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "source/config/loader.h"
#include "source/proxy/listener_config.h"
#include "source/stats/stats.h"
#include "source/upstream/cluster.h"

namespace wsproxy::server {

struct Snapshot {
  config::LoadedConfig config;
  std::vector<std::shared_ptr<const proxy::ListenerConfig>> listeners;
  std::vector<std::shared_ptr<const upstream::Cluster>> clusters;
  std::optional<uint32_t> max_connections;  // process-wide, when configured
  std::string access_log_path;
  bool access_log_disabled = false;
  uint64_t version = 0;
  std::string sha256;  // of config.text, hex
  std::chrono::milliseconds shutdown_grace_period{5000};
  std::chrono::milliseconds shutdown_timeout{10000};
  std::chrono::milliseconds reload_drain_period{3600000};
};

// Checks `loaded` and builds its runtime objects, as config `version`.
// Returns null with every problem in `errors`.
std::shared_ptr<const Snapshot> build_snapshot(config::LoadedConfig loaded, uint64_t version, stats::Store& store,
                                               config::ErrorList& errors);

}  // namespace wsproxy::server

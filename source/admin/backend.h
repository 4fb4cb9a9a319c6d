// What the admin API asks of the running server. The server implements it;
// the admin service (gRPC) and the metrics endpoint only call it, so
// nothing on the data path depends on the admin code.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "source/proxy/connection_details.h"
#include "source/stats/stats.h"

namespace wsproxy::admin {

// Where a config comes from. Neither path nor text: the startup file.
struct ConfigSource {
  std::optional<std::string> path;
  std::optional<std::string> text;
};

struct ServerInfo {
  std::string version;
  std::string build;
  std::chrono::milliseconds uptime{0};
  uint32_t workers = 0;
  bool draining = false;
  uint64_t config_version = 0;
  std::string config_source;
};

struct ConfigDump {
  std::string text;  // secrets redacted
  uint64_t version = 0;
  std::string sha256;
  std::string source;
};

struct ValidateResult {
  std::string errors;  // empty: valid
  uint32_t listeners = 0;
  uint32_t clusters = 0;
};

struct ReloadResult {
  std::string errors;  // empty: applied
  uint64_t version = 0;
  std::string sha256;
  std::vector<std::string> added, removed, changed, unchanged;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual ServerInfo server_info() const = 0;
  virtual const stats::Store& stats() const = 0;
  virtual ConfigDump config() const = 0;
  virtual ValidateResult validate(const ConfigSource& source) = 0;
  virtual ReloadResult reload(const ConfigSource& source) = 0;
  virtual std::vector<proxy::ConnectionDetails> connections(const std::string& listener) = 0;
  virtual bool close_connection(uint64_t id, uint16_t code, const std::string& reason) = 0;
  // Starts draining (once); returns the connections open when it began.
  virtual uint64_t drain(std::optional<std::chrono::milliseconds> grace_period) = 0;
};

}  // namespace wsproxy::admin

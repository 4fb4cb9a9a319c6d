// What the admin API shows of a connection (a light header: no Asio).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace wsproxy::proxy {

struct ConnectionDetails {
  uint64_t id = 0;
  std::string listener;
  std::string client;
  std::string path;
  std::string cluster;
  std::string upstream;
  std::chrono::milliseconds age{0};
  uint64_t bytes_from_client = 0;
  uint64_t bytes_to_client = 0;
  uint64_t messages_from_client = 0;
  uint64_t messages_to_client = 0;
  std::vector<std::pair<std::string, std::string>> annotations;
  uint64_t config_version = 0;
  std::string state;  // handshaking, relaying, closing, rejecting
};

}  // namespace wsproxy::proxy

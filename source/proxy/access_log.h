// The access log: one JSON line per connection, written when it ends.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "source/stats/stats.h"

namespace wsproxy::proxy {

struct AccessLogEntry {
  std::string_view listener;
  std::string_view client;  // address:port
  std::string_view method;
  std::string_view path;     // without the query, which may carry secrets
  std::string_view cluster;  // empty if not routed
  std::string_view upstream;
  int status = 0;  // the HTTP status sent to the client; 0 if none was
  int64_t duration_ms = 0;
  uint64_t bytes_from_client = 0;
  uint64_t bytes_to_client = 0;
  std::string_view closed_by;  // client, upstream or proxy
  std::string_view reason;
};

class AccessLog {
 public:
  // Appends to `path`, or writes to standard output when it is empty; a
  // disabled log writes nothing. Returns null with `error` set if the file
  // cannot be opened.
  static std::unique_ptr<AccessLog> open(const std::string& path, bool disabled, stats::Store& store,
                                         std::string& error);
  ~AccessLog();

  // One write(2) per line. A failed write is counted
  // (access_log.write_errors) and never stops the proxy.
  void write(const AccessLogEntry& entry);

 private:
  AccessLog(int fd, bool owned, stats::Counter& errors) : fd_(fd), owned_(owned), write_errors_(errors) {}
  int fd_;  // -1: disabled
  bool owned_;
  stats::Counter& write_errors_;
};

}  // namespace wsproxy::proxy

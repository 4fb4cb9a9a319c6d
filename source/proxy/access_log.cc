// Access log lines.
#include "source/proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "source/common/json.h"
#include "source/common/log.h"

namespace wsproxy::proxy {

std::unique_ptr<AccessLog> AccessLog::open(const std::string& path, bool disabled, stats::Store& store,
                                           std::string& error) {
  stats::Counter& errors = store.counter("access_log.write_errors");
  if (disabled) return std::unique_ptr<AccessLog>(new AccessLog(-1, false, errors));
  if (path.empty()) return std::unique_ptr<AccessLog>(new AccessLog(STDOUT_FILENO, false, errors));
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot open access log \"" + path + "\": " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<AccessLog>(new AccessLog(fd, true, errors));
}

AccessLog::~AccessLog() {
  if (owned_) ::close(fd_);
}

void AccessLog::write(const AccessLogEntry& e) {
  if (fd_ < 0) return;
  char now[32];
  log::format_now(now);
  std::string line;
  line.reserve(320);
  auto field = [&](const char* name, std::string_view value) {
    line.append(",\"").append(name).append("\":");
    json::append_string(line, value);
  };
  auto number = [&](const char* name, int64_t value) {
    line.append(",\"").append(name).append("\":").append(std::to_string(value));
  };
  line.append("{\"time\":\"").append(now).append("\"");
  field("listener", e.listener);
  field("client", e.client);
  field("method", e.method);
  field("path", e.path);
  field("cluster", e.cluster);
  field("upstream", e.upstream);
  number("status", e.status);
  number("duration_ms", e.duration_ms);
  number("bytes_from_client", static_cast<int64_t>(e.bytes_from_client));
  number("bytes_to_client", static_cast<int64_t>(e.bytes_to_client));
  field("closed_by", e.closed_by);
  field("reason", e.reason);
  line.append("}\n");
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    // Counted, and reported once: the log being unwritable must not stop
    // proxying or flood the process log.
    if (write_errors_.value() == 0) {
      log::error(std::string("cannot write the access log: ") + std::strerror(errno) + " (counted in access_log.write_errors)");
    }
    write_errors_.inc();
  }
}

}  // namespace wsproxy::proxy

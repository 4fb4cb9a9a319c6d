// What a connection uses from the worker thread it lives on.
#pragma once

#include <boost/intrusive/list.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "source/network/buffer_pool.h"
#include "source/network/event_loop.h"
#include "source/network/pipe_pool.h"
#include "source/proxy/connection_details.h"
#include "source/proxy/access_log.h"
#include "source/stats/stats.h"

namespace wsproxy::proxy {

// A live connection as its worker's list sees it. It leaves the list when
// it ends (or is destroyed). Every method runs on the worker's thread.
class TrackedConnection
    : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual ~TrackedConnection() = default;
  // Shared ownership, to keep the connection alive while acting on it.
  virtual std::shared_ptr<TrackedConnection> shared() = 0;
  virtual uint64_t id() const = 0;
  // The accepting socket (worker-wide id) the connection came through.
  virtual uint64_t listener_slot() const = 0;
  virtual ConnectionDetails details() const = 0;
  // Ends the connection now; logged as closed by the proxy for `reason`.
  virtual void terminate(std::string_view reason) = 0;
  // Ends a relayed WebSocket with a close frame (`code`, `reason`) to both
  // sides and waits briefly for them to close; other connections end now.
  virtual void close_with(uint16_t code, std::string reason) = 0;
  // Sends 1001 (going away) at `deadline`, unless the connection ends first.
  virtual void drain_at(std::chrono::steady_clock::time_point deadline) = 0;
};

using ConnectionList = boost::intrusive::list<TrackedConnection, boost::intrusive::constant_time_size<false>>;

// Process-wide connection limit, shared by all workers.
struct ProcessLimits {
  explicit ProcessLimits(stats::Store& store)
      : active(store.gauge("server.downstream_cx_active")), overflow(store.counter("server.downstream_cx_overflow")) {}
  stats::Gauge& active;
  stats::Counter& overflow;
  std::atomic<int64_t> max_connections{0};
};

struct WorkerContext {
  WorkerContext(network::EventLoop& event_loop, AccessLog& log, ProcessLimits& process_limits)
      : loop(event_loop), access_log(log), limits(process_limits) {}

  network::EventLoop& loop;
  AccessLog& access_log;
  ProcessLimits& limits;
  network::BufferPool buffers{256};
  network::PipePool pipes{16};
  ConnectionList connections;
};

}  // namespace wsproxy::proxy

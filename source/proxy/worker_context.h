// What a connection uses from the worker thread it lives on.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/intrusive/list.hpp>

#include <atomic>
#include <string_view>

#include "source/network/buffer_pool.h"
#include "source/proxy/access_log.h"
#include "source/stats/stats.h"

namespace wsproxy::proxy {

// A live connection as its worker's list sees it. It leaves the list when
// it ends (or is destroyed).
class TrackedConnection
    : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual ~TrackedConnection() = default;
  // Ends the connection now; logged as closed by the proxy for `reason`.
  virtual void terminate(std::string_view reason) = 0;
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
  WorkerContext(boost::asio::io_context& io_context, AccessLog& log, ProcessLimits& process_limits)
      : io(io_context), access_log(log), limits(process_limits) {}

  boost::asio::io_context& io;
  AccessLog& access_log;
  ProcessLimits& limits;
  network::BufferPool buffers{256};
  ConnectionList connections;
};

}  // namespace wsproxy::proxy

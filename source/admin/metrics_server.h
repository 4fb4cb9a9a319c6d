// A small HTTP endpoint for operators' tooling: GET /metrics (Prometheus
// text) and GET /ready (200 while live, 503 while draining). One request
// per connection, answered and closed; runs on the main thread.
#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

#include "source/admin/backend.h"
#include "source/config/loader.h"

namespace wsproxy::admin {

class MetricsServer {
 public:
  // Null, with `error`, if it cannot listen on `address`.
  static std::unique_ptr<MetricsServer> start(boost::asio::io_context& io, const config::v1::SocketAddress& address,
                                              const Backend& backend, std::string& error);
  ~MetricsServer();

 private:
  struct Impl;
  explicit MetricsServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace wsproxy::admin

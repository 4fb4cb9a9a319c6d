// The gRPC admin server: wsproxy.admin.v1.AdminService, server reflection
// (so grpcurl and buf curl need no .proto files) and the standard health
// service, on the config's admin address. gRPC's headers stay in the .cc.
#pragma once

#include <memory>
#include <string>

#include "source/admin/backend.h"
#include "source/config/loader.h"

namespace wsproxy::admin {

class AdminServer {
 public:
  // Listens on admin.address (default 127.0.0.1:9901), with TLS and a
  // bearer token when configured. Null, with `error`, if it cannot.
  static std::unique_ptr<AdminServer> start(const config::LoadedConfig& config, Backend& backend, std::string& error);
  ~AdminServer();
  // Ends streams and calls in flight (within a second) and stops.
  void shutdown();

 private:
  struct Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsproxy::admin

// The gRPC admin service.
#include "source/admin/admin_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/grpcpp.h>
#include <openssl/crypto.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "source/common/log.h"
#include "source/websocket/frame_tracker.h"
#include "wsproxy/admin/v1/admin.grpc.pb.h"

namespace wsproxy::admin {
namespace {

namespace pb = wsproxy::admin::v1;
using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;

google::protobuf::Duration to_duration(std::chrono::milliseconds ms) {
  google::protobuf::Duration d;
  d.set_seconds(ms.count() / 1000);
  d.set_nanos(static_cast<int32_t>((ms.count() % 1000) * 1000000));
  return d;
}

std::chrono::milliseconds to_milliseconds(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

// Fills `out` with the stats whose names match `filter` (all if none).
void fill_stats(const stats::Store& store, const std::optional<std::regex>& filter, pb::Stats& out) {
  auto wanted = [&](const std::string& name) { return !filter || std::regex_search(name, *filter); };
  for (const auto& [name, value] : store.counter_values()) {
    if (!wanted(name)) continue;
    auto* c = out.add_counters();
    c->set_name(name);
    c->set_value(value);
  }
  for (const auto& [name, value] : store.gauge_values()) {
    if (!wanted(name)) continue;
    auto* g = out.add_gauges();
    g->set_name(name);
    g->set_value(value);
  }
  for (const auto& [name, s] : store.histogram_values()) {
    if (!wanted(name)) continue;
    auto* h = out.add_histograms();
    h->set_name(name);
    h->set_count(s.count);
    h->set_p50(s.p50);
    h->set_p90(s.p90);
    h->set_p99(s.p99);
    h->set_p999(s.p999);
    h->set_max(s.max);
    h->set_sum(s.sum);
  }
}

Status compile(const std::string& pattern, std::optional<std::regex>& out) {
  if (pattern.empty()) return Status::OK;
  try {
    out.emplace(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    return Status(StatusCode::INVALID_ARGUMENT, "name_regex: " + std::string(e.what()));
  }
  return Status::OK;
}

ConfigSource source_of(const pb::ConfigSource& source) {
  ConfigSource out;
  if (source.source_case() == pb::ConfigSource::kPath) out.path = source.path();
  if (source.source_case() == pb::ConfigSource::kText) out.text = source.text();
  return out;
}

class AdminService final : public pb::AdminService::Service {
 public:
  AdminService(Backend& backend, std::string bearer_token)
      : backend_(backend), bearer_token_(std::move(bearer_token)) {}

  void stop() { stopping_ = true; }

  Status GetServerInfo(ServerContext* context, const pb::GetServerInfoRequest*,
                       pb::GetServerInfoResponse* response) override {
    if (Status s = authorize(context); !s.ok()) return s;
    ServerInfo info = backend_.server_info();
    response->set_version(info.version);
    response->set_build(info.build);
    *response->mutable_uptime() = to_duration(info.uptime);
    response->set_workers(info.workers);
    response->set_state(info.draining ? pb::GetServerInfoResponse::STATE_DRAINING
                                      : pb::GetServerInfoResponse::STATE_LIVE);
    response->set_config_version(info.config_version);
    response->set_config_source(info.config_source);
    return Status::OK;
  }

  Status GetStats(ServerContext* context, const pb::GetStatsRequest* request, pb::GetStatsResponse* response) override {
    if (Status s = authorize(context); !s.ok()) return s;
    std::optional<std::regex> filter;
    if (Status s = compile(request->name_regex(), filter); !s.ok()) return s;
    fill_stats(backend_.stats(), filter, *response->mutable_stats());
    return Status::OK;
  }

  Status WatchStats(ServerContext* context, const pb::WatchStatsRequest* request,
                    grpc::ServerWriter<pb::WatchStatsResponse>* writer) override {
    if (Status s = authorize(context); !s.ok()) return s;
    std::optional<std::regex> filter;
    if (Status s = compile(request->name_regex(), filter); !s.ok()) return s;
    auto interval = request->has_interval() ? to_milliseconds(request->interval()) : std::chrono::milliseconds(1000);
    if (interval < std::chrono::milliseconds(100)) {
      return Status(StatusCode::INVALID_ARGUMENT, "interval: must be at least 100 ms");
    }
    while (!context->IsCancelled() && !stopping_) {
      pb::WatchStatsResponse response;
      fill_stats(backend_.stats(), filter, *response.mutable_stats());
      if (!writer->Write(response)) break;
      // Sleep in short steps, to notice a cancel or a shutdown soon.
      auto until = std::chrono::steady_clock::now() + interval;
      while (std::chrono::steady_clock::now() < until && !context->IsCancelled() && !stopping_) {
        std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(interval, std::chrono::milliseconds(50)));
      }
    }
    return Status::OK;
  }

  Status GetConfig(ServerContext* context, const pb::GetConfigRequest*, pb::GetConfigResponse* response) override {
    if (Status s = authorize(context); !s.ok()) return s;
    ConfigDump dump = backend_.config();
    response->set_config(dump.text);
    response->set_version(dump.version);
    response->set_sha256(dump.sha256);
    response->set_source(dump.source);
    return Status::OK;
  }

  Status ValidateConfig(ServerContext* context, const pb::ValidateConfigRequest* request,
                        pb::ValidateConfigResponse* response) override {
    if (Status s = authorize(context); !s.ok()) return s;
    ValidateResult result = backend_.validate(source_of(request->source()));
    if (!result.errors.empty()) return Status(StatusCode::INVALID_ARGUMENT, result.errors);
    response->set_valid(true);
    response->set_listeners(result.listeners);
    response->set_clusters(result.clusters);
    return Status::OK;
  }

  Status ReloadConfig(ServerContext* context, const pb::ReloadConfigRequest* request,
                      pb::ReloadConfigResponse* response) override {
    if (Status s = authorize(context); !s.ok()) return s;
    ReloadResult result = backend_.reload(source_of(request->source()));
    if (!result.errors.empty()) {
      log::warn("admin: reload refused; the running config is unchanged:\n" + result.errors);
      return Status(StatusCode::INVALID_ARGUMENT, result.errors);
    }
    response->set_version(result.version);
    response->set_sha256(result.sha256);
    for (const auto& n : result.added) response->add_listeners_added(n);
    for (const auto& n : result.removed) response->add_listeners_removed(n);
    for (const auto& n : result.changed) response->add_listeners_changed(n);
    for (const auto& n : result.unchanged) response->add_listeners_unchanged(n);
    return Status::OK;
  }

  Status ListConnections(ServerContext* context, const pb::ListConnectionsRequest* request,
                         pb::ListConnectionsResponse* response) override {
    if (Status s = authorize(context); !s.ok()) return s;
    for (const auto& d : backend_.connections(request->listener())) {
      auto* c = response->add_connections();
      c->set_id(d.id);
      c->set_listener(d.listener);
      c->set_client_address(d.client);
      c->set_path(d.path);
      c->set_cluster(d.cluster);
      c->set_upstream(d.upstream);
      *c->mutable_age() = to_duration(d.age);
      c->set_bytes_from_client(d.bytes_from_client);
      c->set_bytes_to_client(d.bytes_to_client);
      c->set_messages_from_client(d.messages_from_client);
      c->set_messages_to_client(d.messages_to_client);
      for (const auto& [key, value] : d.annotations) (*c->mutable_annotations())[key] = value;
      c->set_config_version(d.config_version);
      c->set_state(d.state);
    }
    return Status::OK;
  }

  Status CloseConnection(ServerContext* context, const pb::CloseConnectionRequest* request,
                         pb::CloseConnectionResponse*) override {
    if (Status s = authorize(context); !s.ok()) return s;
    uint32_t code = request->code() == 0 ? 1001 : request->code();
    if (!websocket::is_sendable_close_code(code)) {
      return Status(StatusCode::INVALID_ARGUMENT, "code: " + std::to_string(code) +
                                                      " cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)");
    }
    if (request->reason().size() > 123) {
      return Status(StatusCode::INVALID_ARGUMENT, "reason: at most 123 bytes fit in a close frame");
    }
    if (!backend_.close_connection(request->id(), static_cast<uint16_t>(code), request->reason())) {
      return Status(StatusCode::NOT_FOUND, "no open connection has id " + std::to_string(request->id()));
    }
    log::info("admin: closing connection " + std::to_string(request->id()) + " with " + std::to_string(code));
    return Status::OK;
  }

  Status Drain(ServerContext* context, const pb::DrainRequest* request, pb::DrainResponse* response) override {
    if (Status s = authorize(context); !s.ok()) return s;
    std::optional<std::chrono::milliseconds> grace;
    if (request->has_grace_period()) grace = to_milliseconds(request->grace_period());
    response->set_connections(backend_.drain(grace));
    return Status::OK;
  }

 private:
  Status authorize(ServerContext* context) const {
    if (bearer_token_.empty()) return Status::OK;
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    std::string expected = "Bearer " + bearer_token_;
    if (it == metadata.end() || it->second.size() != expected.size() ||
        CRYPTO_memcmp(it->second.data(), expected.data(), expected.size()) != 0) {
      return Status(StatusCode::UNAUTHENTICATED, "a valid \"authorization: Bearer <token>\" is required");
    }
    return Status::OK;
  }

  Backend& backend_;
  const std::string bearer_token_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

struct AdminServer::Impl {
  std::unique_ptr<AdminService> service;
  std::unique_ptr<grpc::Server> server;
};

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { shutdown(); }

std::unique_ptr<AdminServer> AdminServer::start(const config::LoadedConfig& config, Backend& backend,
                                                std::string& error) {
  const auto& admin = config.bootstrap.admin();
  std::string host = admin.has_address() ? admin.address().address() : "127.0.0.1";
  uint32_t port = admin.has_address() ? admin.address().port() : 9901;
  std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (admin.has_tls()) {
    grpc::SslServerCredentialsOptions options;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    if (!read_file(config.resolve_path(admin.tls().certificate().private_key_file()), pair.private_key) ||
        !read_file(config.resolve_path(admin.tls().certificate().certificate_chain_file()), pair.cert_chain)) {
      error = "cannot read admin.tls.certificate's files";
      return nullptr;
    }
    options.pem_key_cert_pairs.push_back(std::move(pair));
    if (!admin.tls().client_ca_file().empty()) {
      if (!read_file(config.resolve_path(admin.tls().client_ca_file()), options.pem_root_certs)) {
        error = "cannot read admin.tls.client_ca_file";
        return nullptr;
      }
      options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(options);
  }

  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<AdminService>(backend, admin.bearer_token());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(address, credentials, &selected_port);
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || selected_port == 0) {
    error = "cannot listen on " + address + " (in use, or not an address of this machine)";
    return nullptr;
  }
  log::info("admin listening on " + host + ":" + std::to_string(selected_port) + " (grpc" +
            (admin.has_tls() ? ", tls" : "") + (admin.bearer_token().empty() ? "" : ", bearer token") + ")");
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

void AdminServer::shutdown() {
  if (!impl_ || !impl_->server) return;
  impl_->service->stop();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  impl_->server.reset();
}

}  // namespace wsproxy::admin

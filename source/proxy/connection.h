// One client connection from accept to close: TLS handshake, the upgrade
// request, routing, the upstream connection and its handshake, then the
// tunnel; or an HTTP error answer. Lives on one worker thread; pending
// operations hold it alive through shared_from_this().
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "source/filter/chain.h"
#include "source/http/message.h"
#include "source/network/stream.h"
#include "source/proxy/listener_config.h"
#include "source/proxy/tunnel.h"
#include "source/proxy/worker_context.h"

namespace wsproxy::proxy {

class ProxyConnection : public std::enable_shared_from_this<ProxyConnection>,
                        public TrackedConnection,
                        private Tunnel::Observer {
 public:
  // `fd` was just accepted from `peer` on the socket `slot` names (see
  // TrackedConnection); the connection owns it from now on.
  ProxyConnection(WorkerContext& worker, std::shared_ptr<const ListenerConfig> listener, uint64_t slot, int fd,
                  const sockaddr_storage& peer);
  ~ProxyConnection() override;

  void start();
  std::shared_ptr<TrackedConnection> shared() override { return shared_from_this(); }
  uint64_t id() const override { return id_; }
  uint64_t listener_slot() const override { return slot_; }
  ConnectionDetails details() const override;
  void terminate(std::string_view reason) override;
  void close_with(uint16_t code, std::string reason) override;
  void drain_at(std::chrono::steady_clock::time_point deadline) override;

 private:
  enum class Phase {
    tls_handshake,
    reading_request,
    connecting,
    upstream_tls,
    sending_request,
    reading_response,
    relaying,
    closing,  // close frames sent by the proxy; waiting for both sides to end
    rejecting,
    closed,
  };

  void on_client_tls(bool ok);
  // Replaces any client-sent forwarded-client-cert header with the verified
  // certificate's details, when the TLS context asks for it.
  void forward_client_certificate();
  // Chooses the filter chain and runs on_connect; false if no chain fits.
  bool start_chain(std::string_view path);
  void read_request();
  void on_request_head(std::size_t head_size);
  void connect_upstream();
  void on_upstream_connected();
  void send_upstream_request();
  void read_upstream_response();
  void on_upstream_response(std::size_t head_size);
  // `response` is the 101 head, then from `websocket_from` on the bytes
  // the upstream sent with it.
  void start_tunnel(std::string response, std::size_t websocket_from);

  // Answers `status` with `message` as the body, then closes.
  void reject(int status, std::string message, std::vector<http::Header> headers = {});
  void reject(filter::ChainDenial denial);
  void linger();
  void finish(std::string_view closed_by, std::string reason);
  void close_upstream();

  void arm_timer(std::chrono::milliseconds after);
  // In the relaying phase: the sooner of the idle check and a planned close.
  void arm_relay_timer();
  void on_timeout();

  void on_end_of_stream(Side from) override;
  void on_closed_after_handshake(Side from) override;
  void on_stream_error(Side side, const std::string& error) override;
  void on_message_too_big(Side from, bool at_boundary) override;

  const upstream::Cluster& cluster() const { return *route_->cluster; }
  filter::ConnectionInfo connection_info() const;
  std::string describe() const;

  WorkerContext& worker_;
  std::shared_ptr<const ListenerConfig> listener_;
  const uint64_t id_;
  const uint64_t slot_;
  std::unique_ptr<network::Stream> client_;
  std::unique_ptr<network::Stream> upstream_;
  std::unique_ptr<Tunnel> tunnel_;
  network::Timer timer_;
  uint64_t timer_generation_ = 0;
  Phase phase_ = Phase::tls_handshake;
  std::chrono::steady_clock::time_point accepted_at_;
  // A close the proxy will start itself at a set time (drain, a filter's
  // scheduled close); the earliest is kept.
  struct PlannedClose {
    std::chrono::steady_clock::time_point at;
    uint16_t code;
    std::string reason;
  };
  void plan_close(PlannedClose close);
  std::optional<PlannedClose> planned_close_;

  std::string client_ip_;
  uint16_t client_port_ = 0;
  std::string client_address_;  // ip:port
  // What only the handshake (or an error answer) needs: freed once the
  // tunnel starts, so an idle relayed connection does not carry it. Only
  // the phases before relaying (and rejecting, which only they enter) use
  // it.
  struct Handshake {
    std::string in;   // head being read (request, then response)
    // Bytes written: the request upstream (from `websocket_from` on, the
    // WebSocket bytes the client sent with it), or an error answer.
    std::string out;
    std::size_t websocket_from = 0;
    std::optional<http::RequestHead> request;
    std::optional<filter::ChainDenial> connect_denial;  // answered once the request is read
    const network::TlsServerContext* tls_context = nullptr;  // the one the TLS handshake used
    std::optional<network::PeerCertificate> peer;            // a verified client certificate
    std::chrono::steady_clock::time_point connect_started;
    std::size_t lingered_bytes = 0;  // read and dropped after an error answer
  };
  std::unique_ptr<Handshake> handshake_ = std::make_unique<Handshake>();
  std::string method_;
  std::string path_;
  const Route* route_ = nullptr;
  const filter::FilterChain* chain_ = nullptr;
  std::unique_ptr<filter::ActiveChain> filters_;
  filter::Attributes attributes_;
  const upstream::Endpoint* endpoint_ = nullptr;

  bool counted_ = false;           // holds a place in the connection limits
  bool upstream_counted_ = false;  // counted in the cluster's active gauge
  bool over_limit_ = false;
  std::optional<Side> first_end_;  // the side that half-closed first
  uint64_t handshake_bytes_in_ = 0;
  uint64_t handshake_bytes_out_ = 0;
  int status_ = 0;
  std::string closed_by_;
  std::string reason_;
};

}  // namespace wsproxy::proxy

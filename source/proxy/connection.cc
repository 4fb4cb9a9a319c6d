// The per-connection state machine.
#include "source/proxy/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "source/common/log.h"
#include "source/http/read_head.h"
#include "source/http/response.h"
#include "source/http/upgrade.h"
#include "source/network/stream_ops.h"

namespace wsproxy::proxy {
namespace {

using std::chrono::milliseconds;

// An upstream's answer to the upgrade may be at most this large.
constexpr std::size_t kMaxResponseHeadBytes = 16384;
// Time to write an error answer and let the client read it.
constexpr milliseconds kRejectTimeout{5000};
// After one side half-closes, the other has this long to finish (the
// WebSocket close handshake takes a round trip).
constexpr milliseconds kHalfCloseDrain{10000};
// At most this much is read and dropped after an error answer, so the
// client sees the answer instead of a reset.
constexpr std::size_t kMaxLingerBytes = 1 << 20;
// After the proxy sends close frames, the time both sides get to close.
constexpr milliseconds kCloseHandshakeTimeout{5000};

std::atomic<uint64_t> next_connection_id{1};

std::string seconds_text(milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

const char* side_name(Side side) { return side == Side::client ? "client" : "upstream"; }

}  // namespace

ProxyConnection::ProxyConnection(WorkerContext& worker, std::shared_ptr<const ListenerConfig> listener,
                                 uint64_t slot, int fd, const sockaddr_storage& peer)
    : worker_(worker),
      listener_(std::move(listener)),
      id_(next_connection_id.fetch_add(1, std::memory_order_relaxed)),
      slot_(slot),
      timer_(worker.loop),
      accepted_at_(std::chrono::steady_clock::now()) {
  char ip[INET6_ADDRSTRLEN] = {};
  uint16_t port = 0;
  if (peer.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&peer);
    inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
    port = ntohs(v4->sin_port);
  } else if (peer.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
    port = ntohs(v6->sin6_port);
  }
  client_ip_ = ip;
  client_port_ = port;
  if (!client_ip_.empty()) {
    client_address_ = peer.ss_family == AF_INET6 ? "[" + client_ip_ + "]:" + std::to_string(port)
                                                 : client_ip_ + ":" + std::to_string(port);
  }
  client_ = std::make_unique<network::Stream>(worker.loop, fd, listener_->tls ? listener_->tls->new_session() : nullptr);
}

ProxyConnection::~ProxyConnection() = default;

void ProxyConnection::start() {
  ListenerStats& stats = *listener_->stats;
  stats.cx_total.inc();
  worker_.connections.push_back(*this);
  if (stats.cx_active.try_inc_below(listener_->max_connections)) {
    if (worker_.limits.active.try_inc_below(worker_.limits.max_connections.load(std::memory_order_relaxed))) {
      counted_ = true;
    } else {
      stats.cx_active.sub(1);
      worker_.limits.overflow.inc();
    }
  }
  if (!counted_) {
    // Still read the request, so the client gets a 503 it can understand.
    over_limit_ = true;
    stats.cx_overflow.inc();
  }
  if (client_address_.empty()) return finish("client", "disconnected before the connection was set up");
  if (!client_->watched()) return finish("proxy", client_->error_text());
  if (listener_->tls && client_->ssl() == nullptr) return finish("proxy", "cannot create a TLS session");
  arm_timer(listener_->handshake_timeout);
  if (!client_->is_tls()) return on_client_tls(true);
  network::async_handshake(*client_, [self = shared_from_this()](bool ok) { self->on_client_tls(ok); });
}

void ProxyConnection::terminate(std::string_view reason) { finish("proxy", std::string(reason)); }

void ProxyConnection::on_client_tls(bool ok) {
  if (phase_ != Phase::tls_handshake) return;
  if (!ok) {
    listener_->stats->cx_tls_handshake_error.inc();
    log::info("listener " + listener_->name + ": " + client_address_ + ": TLS handshake failed: " + client_->error_text());
    return finish("client", "TLS handshake failed: " + client_->error_text());
  }
  if (client_->is_tls()) {
    handshake_->tls_context = &listener_->tls->context_for(client_->server_name());
    handshake_->peer = network::verified_peer_certificate(client_->ssl());
  }
  // When chains differ by server name only, the chain is known now and its
  // on_connect hooks run before anything is read.
  if (!listener_->chains_need_path()) start_chain({});
  read_request();
}

bool ProxyConnection::start_chain(std::string_view path) {
  if (listener_->chains.empty()) return true;
  chain_ = listener_->chain_for(client_->server_name(), path);
  if (chain_ == nullptr) return false;
  filters_ = std::make_unique<filter::ActiveChain>(*chain_);
  filter::ConnectionInfo info = connection_info();
  filter::ConnectContext context{info, attributes_};
  handshake_->connect_denial = filters_->on_connect(context);
  return true;
}

void ProxyConnection::read_request() {
  phase_ = Phase::reading_request;
  handshake_->in.reserve(1024);
  http::async_read_head(*client_, handshake_->in, listener_->max_request_header_bytes,
                        [self = shared_from_this()](http::ReadHeadResult r) {
                          if (self->phase_ != Phase::reading_request) return;
                          switch (r.status) {
                            case http::ReadHeadStatus::complete:
                              return self->on_request_head(r.head_size);
                            case http::ReadHeadStatus::too_large:
                              return self->reject(431, "the request head is larger than " +
                                                           std::to_string(self->listener_->max_request_header_bytes) +
                                                           " bytes");
                            case http::ReadHeadStatus::eof:
                              return self->finish("client", self->handshake_->in.empty()
                                                                ? "closed before sending a request"
                                                                : "closed in the middle of the request");
                            case http::ReadHeadStatus::error:
                              return self->finish("client", "read failed: " + self->client_->error_text());
                            case http::ReadHeadStatus::aborted:
                              return;
                          }
                        });
}

void ProxyConnection::on_request_head(std::size_t head_size) {
  handshake_bytes_in_ = handshake_->in.size();
  http::ParseProblem problem;
  handshake_->request = http::parse_request_head(std::string_view(handshake_->in).substr(0, head_size), problem);
  if (!handshake_->request) {
    return reject(problem.error == http::ParseError::too_many_headers ? 431 : 400, problem.detail);
  }
  method_ = handshake_->request->method.substr(0, 16);
  path_ = std::string(http::target_path(handshake_->request->target));
  if (auto rejection = http::check_upgrade_request(*handshake_->request)) {
    return reject(rejection->status, std::move(rejection->message), std::move(rejection->headers));
  }
  if (over_limit_) return reject(503, "too many connections");
  forward_client_certificate();
  if (chain_ == nullptr && !start_chain(path_)) {
    return reject(404, "no filter chain applies to this server name and path");
  }
  if (handshake_->connect_denial) return reject(std::move(*handshake_->connect_denial));
  if (filters_) {
    filter::ConnectionInfo info = connection_info();
    filter::RequestContext context{info, attributes_, *handshake_->request};
    if (auto denial = filters_->on_request(context)) return reject(std::move(*denial));
    if (const auto& scheduled = context.scheduled_close) {
      auto in = scheduled->at - std::chrono::system_clock::now();
      plan_close({std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(in),
                  scheduled->code, scheduled->reason});
    }
    path_ = std::string(http::target_path(handshake_->request->target));
  }
  route_ = listener_->route_for(path_);
  if (route_ == nullptr) return reject(404, "no route for this path");
  endpoint_ = cluster().pick();
  if (endpoint_ == nullptr) {
    cluster().stats().cx_none_available.inc();
    return reject(503, "no upstream endpoint is available for this path");
  }
  // Bytes the client sent after its head follow the request upstream.
  http::Forwarding forwarding{client_ip_, client_->is_tls()};
  handshake_->out = http::upstream_request(*handshake_->request, forwarding);
  handshake_->websocket_from = handshake_->out.size();
  handshake_->out.append(handshake_->in, head_size, std::string::npos);
  std::string().swap(handshake_->in);
  connect_upstream();
}

void ProxyConnection::connect_upstream() {
  phase_ = Phase::connecting;
  handshake_->connect_started = std::chrono::steady_clock::now();
  arm_timer(cluster().connect_timeout());
  cluster().stats().cx_total.inc();
  cluster().stats().cx_active.add(1);
  upstream_counted_ = true;
  const network::TlsClientContext* tls = cluster().tls();
  const auto& address = endpoint_->address;
  upstream_ = network::Stream::open(worker_.loop, address.protocol().family(),
                                    tls ? tls->new_session(endpoint_->host) : nullptr);
  if (!upstream_) {
    cluster().stats().cx_connect_fail.inc();
    // Out of descriptors or memory here, not the upstream's fault.
    return reject(503, std::string("cannot open a socket to the upstream: ") + std::strerror(errno));
  }
  network::IoResult r = upstream_->connect(address.data(), static_cast<socklen_t>(address.size()));
  if (r.status == network::Io::done) return on_upstream_connected();
  if (r.status == network::Io::error) {
    cluster().stats().cx_connect_fail.inc();
    return reject(502, "cannot connect to upstream " + endpoint_->display + ": " + upstream_->error_text());
  }
  upstream_->async_wait(network::Io::want_write, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->phase_ != Phase::connecting) return;
    if (self->upstream_->finish_connect().status != network::Io::done) {
      self->cluster().stats().cx_connect_fail.inc();
      return self->reject(502, "cannot connect to upstream " + self->endpoint_->display + ": " +
                                   self->upstream_->error_text());
    }
    self->on_upstream_connected();
  });
}

void ProxyConnection::on_upstream_connected() {
  if (cluster().tls() == nullptr) return send_upstream_request();
  phase_ = Phase::upstream_tls;
  network::async_handshake(*upstream_, [self = shared_from_this()](bool ok) {
    if (self->phase_ != Phase::upstream_tls) return;
    if (!ok) {
      self->cluster().stats().cx_tls_error.inc();
      return self->reject(502, "TLS handshake with upstream " + self->endpoint_->display +
                                   " failed: " + self->upstream_->error_text());
    }
    self->send_upstream_request();
  });
}

void ProxyConnection::send_upstream_request() {
  phase_ = Phase::sending_request;
  const std::string& request = handshake_->out;
  network::async_write_all(*upstream_, request.data(), request.size(), [self = shared_from_this()](bool ok) {
    if (self->phase_ != Phase::sending_request) return;
    if (!ok) {
      return self->reject(502, "cannot send the request to upstream " + self->endpoint_->display + ": " +
                                   self->upstream_->error_text());
    }
    self->read_upstream_response();
  });
}

void ProxyConnection::read_upstream_response() {
  phase_ = Phase::reading_response;
  std::string& head = handshake_->in;
  http::async_read_head(*upstream_, head, kMaxResponseHeadBytes, [self = shared_from_this()](http::ReadHeadResult r) {
    if (self->phase_ != Phase::reading_response) return;
    const std::string& upstream = self->endpoint_->display;
    switch (r.status) {
      case http::ReadHeadStatus::complete:
        return self->on_upstream_response(r.head_size);
      case http::ReadHeadStatus::too_large:
        self->cluster().stats().handshake_rejected.inc();
        return self->reject(502, "upstream " + upstream + " sent a response head larger than " +
                                     std::to_string(kMaxResponseHeadBytes) + " bytes");
      case http::ReadHeadStatus::eof:
        self->cluster().stats().handshake_rejected.inc();
        return self->reject(502, "upstream " + upstream + " closed the connection without answering");
      case http::ReadHeadStatus::error:
        return self->reject(502, "cannot read from upstream " + upstream + ": " + self->upstream_->error_text());
      case http::ReadHeadStatus::aborted:
        return;
    }
  });
}

void ProxyConnection::on_upstream_response(std::size_t head_size) {
  http::ParseProblem problem;
  auto response = http::parse_response_head(std::string_view(handshake_->in).substr(0, head_size), problem);
  std::optional<std::string> invalid;
  if (!response) {
    invalid = "upstream " + endpoint_->display + " sent an invalid response: " + problem.detail;
  } else if (auto why = http::check_upgrade_response(*response, *handshake_->request)) {
    invalid = "upstream " + endpoint_->display + " refused the WebSocket handshake: " + *why;
  }
  if (invalid) {
    cluster().stats().handshake_rejected.inc();
    return reject(502, std::move(*invalid));
  }
  if (filters_) {
    filter::ConnectionInfo info = connection_info();
    filter::ResponseContext context{info, attributes_, *handshake_->request, *response};
    filters_->on_response(context);
  }
  // Bytes the upstream sent after its 101 follow it to the client.
  std::string to_client = http::downstream_response(*response);
  std::size_t websocket_from = to_client.size();
  to_client.append(handshake_->in, head_size, std::string::npos);
  start_tunnel(std::move(to_client), websocket_from);
}

void ProxyConnection::start_tunnel(std::string to_client, std::size_t websocket_from) {
  phase_ = Phase::relaying;
  status_ = 101;
  handshake_bytes_out_ = to_client.size();
  ListenerStats& ls = *listener_->stats;
  upstream::ClusterStats& cs = cluster().stats();
  auto now = std::chrono::steady_clock::now();
  ls.rq_upgraded.inc();
  ls.upgrade_ms.record(std::chrono::duration<double, std::milli>(now - accepted_at_).count());
  cs.connect_ms.record(std::chrono::duration<double, std::milli>(now - handshake_->connect_started).count());
  tunnel_ = std::make_unique<Tunnel>(*client_, *upstream_, worker_.buffers, worker_.pipes,
                                     static_cast<Tunnel::Observer&>(*this),
                                     Tunnel::Counters{&ls.rx_bytes, &cs.tx_bytes, &ls.messages_rx},
                                     Tunnel::Counters{&ls.tx_bytes, &cs.rx_bytes, &ls.messages_tx},
                                     listener_->max_message_bytes);
  tunnel_->start(shared_from_this(), std::move(to_client), websocket_from,
                 std::string_view(handshake_->out).substr(handshake_->websocket_from));
  handshake_.reset();
  if (phase_ == Phase::relaying) arm_relay_timer();
}

void ProxyConnection::arm_relay_timer() {
  using std::chrono::steady_clock;
  std::optional<steady_clock::time_point> wake;
  if (planned_close_) wake = planned_close_->at;
  if (listener_->idle_timeout.count() > 0) {
    auto idle_at = tunnel_->last_activity() + listener_->idle_timeout;
    if (!wake || idle_at < *wake) wake = idle_at;
  }
  if (!wake) {
    timer_.cancel();
    return;
  }
  auto now = steady_clock::now();
  arm_timer(*wake > now ? std::chrono::duration_cast<milliseconds>(*wake - now) + milliseconds(1) : milliseconds(0));
}

void ProxyConnection::close_with(uint16_t code, std::string reason) {
  if (phase_ != Phase::relaying) return finish("proxy", reason);
  phase_ = Phase::closing;
  closed_by_ = "proxy";
  reason_ = "sent close " + std::to_string(code) + (reason.empty() ? "" : " (" + reason + ")");
  arm_timer(kCloseHandshakeTimeout);
  tunnel_->close_with(shared_from_this(), code, reason);
}

void ProxyConnection::drain_at(std::chrono::steady_clock::time_point deadline) {
  if (phase_ == Phase::closed || phase_ == Phase::closing || phase_ == Phase::rejecting) return;
  if (phase_ != Phase::relaying) return terminate("listener removed");
  plan_close({deadline, 1001, "going away"});
  arm_relay_timer();
}

void ProxyConnection::plan_close(PlannedClose close) {
  if (!planned_close_ || close.at < planned_close_->at) planned_close_ = std::move(close);
}

ConnectionDetails ProxyConnection::details() const {
  ConnectionDetails d;
  d.id = id_;
  d.listener = listener_->name;
  d.client = client_address_;
  d.path = path_;
  if (route_ != nullptr) d.cluster = cluster().name();
  if (endpoint_ != nullptr) d.upstream = endpoint_->display;
  d.age = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - accepted_at_);
  d.bytes_from_client = handshake_bytes_in_ + (tunnel_ ? tunnel_->bytes_from_client() : 0);
  d.bytes_to_client = handshake_bytes_out_ + (tunnel_ ? tunnel_->bytes_to_client() : 0);
  if (tunnel_) {
    d.messages_from_client = tunnel_->messages_from_client();
    d.messages_to_client = tunnel_->messages_to_client();
  }
  d.annotations = attributes_.all();
  d.config_version = listener_->config_version;
  switch (phase_) {
    case Phase::relaying: d.state = "relaying"; break;
    case Phase::closing: d.state = "closing"; break;
    case Phase::rejecting: d.state = "rejecting"; break;
    case Phase::closed: d.state = "closed"; break;
    default: d.state = "handshaking"; break;
  }
  return d;
}

void ProxyConnection::on_end_of_stream(Side from) {
  if (phase_ == Phase::closing) {
    if (first_end_) return finish("proxy", reason_);
    first_end_ = from;
    return;
  }
  if (phase_ != Phase::relaying) return;
  if (first_end_) return finish(side_name(*first_end_), "end of stream");
  first_end_ = from;
  arm_timer(kHalfCloseDrain);
}

void ProxyConnection::on_closed_after_handshake(Side from) {
  finish(side_name(first_end_.value_or(from)), "end of stream");
}

void ProxyConnection::on_stream_error(Side side, const std::string& error) {
  finish(side_name(side), error.empty() ? "connection failed" : error);
}

void ProxyConnection::on_message_too_big(Side from, bool at_boundary) {
  listener_->stats->message_too_big.inc();
  std::string what = std::string("a message from the ") + side_name(from) + " passed max_message_bytes (" +
                     std::to_string(listener_->max_message_bytes) + ")";
  log::info("listener " + listener_->name + ": " + describe() + ": " + what +
            (at_boundary ? "; closing with 1009" : "; closing the connection (the frame header was split)"));
  if (at_boundary) return close_with(1009, "message too big");
  finish("proxy", what);
}

void ProxyConnection::reject(int status, std::string message, std::vector<http::Header> headers) {
  if (phase_ == Phase::closed || phase_ == Phase::rejecting) return;
  close_upstream();
  status_ = status;
  listener_->stats->responses(status).inc();
  std::string line = "listener " + listener_->name + ": " + describe() + " -> " + std::to_string(status) + ": " + message;
  status >= 500 ? log::warn(line) : log::info(line);
  closed_by_ = "proxy";
  reason_ = std::move(message);
  phase_ = Phase::rejecting;
  handshake_->out = http::error_response(status, reason_, headers);
  handshake_bytes_out_ = handshake_->out.size();
  arm_timer(kRejectTimeout);
  const std::string& answer = handshake_->out;
  network::async_write_all(*client_, answer.data(), answer.size(), [self = shared_from_this()](bool ok) {
    if (self->phase_ != Phase::rejecting) return;
    if (!ok) return self->finish("proxy", self->reason_);
    self->client_->shutdown_write();
    self->linger();
  });
}

void ProxyConnection::reject(filter::ChainDenial denial) {
  log::info("listener " + listener_->name + ": " + describe() + ": filter \"" + std::string(denial.filter) +
            "\" in chain \"" + chain_->name() + "\" denied (" + denial.denial.reason + ")");
  reject(denial.denial.status, std::move(denial.denial.message), std::move(denial.denial.headers));
}

void ProxyConnection::linger() {
  char discard[4096];
  for (;;) {
    network::IoResult r = client_->read_some(discard, sizeof(discard));
    if (r.status == network::Io::done && (handshake_->lingered_bytes += r.bytes) < kMaxLingerBytes) continue;
    if (r.status == network::Io::want_read || r.status == network::Io::want_write) {
      client_->async_wait(r.status, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->phase_ == Phase::rejecting) self->linger();
      });
      return;
    }
    return finish("proxy", reason_);
  }
}

void ProxyConnection::finish(std::string_view closed_by, std::string reason) {
  if (phase_ == Phase::closed) return;
  if ((phase_ != Phase::rejecting && phase_ != Phase::closing) || closed_by_.empty()) {
    closed_by_ = std::string(closed_by);
    reason_ = std::move(reason);
  }
  phase_ = Phase::closed;
  timer_.cancel();
  if (tunnel_) tunnel_->stop();
  client_->close();
  close_upstream();
  filters_.reset();
  if (counted_) {
    listener_->stats->cx_active.sub(1);
    worker_.limits.active.sub(1);
  }
  ListenerStats& stats = *listener_->stats;
  (closed_by_ == "client" ? stats.cx_closed_by_client
                          : closed_by_ == "upstream" ? stats.cx_closed_by_upstream : stats.cx_closed_by_proxy)
      .inc();
  AccessLogEntry entry;
  entry.listener = listener_->name;
  entry.client = client_address_;
  entry.method = method_;
  entry.path = path_;
  if (route_ != nullptr) entry.cluster = cluster().name();
  if (endpoint_ != nullptr) entry.upstream = endpoint_->display;
  entry.status = status_;
  entry.duration_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - accepted_at_).count();
  entry.bytes_from_client = handshake_bytes_in_ + (tunnel_ ? tunnel_->bytes_from_client() : 0);
  entry.bytes_to_client = handshake_bytes_out_ + (tunnel_ ? tunnel_->bytes_to_client() : 0);
  entry.closed_by = closed_by_;
  entry.reason = reason_;
  worker_.access_log.write(entry);
  unlink();
}

void ProxyConnection::close_upstream() {
  if (upstream_) upstream_->close();
  if (upstream_counted_) {
    cluster().stats().cx_active.sub(1);
    upstream_counted_ = false;
  }
}

void ProxyConnection::arm_timer(milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this(), generation = ++timer_generation_](const boost::system::error_code& ec) {
    if (!ec && generation == self->timer_generation_) self->on_timeout();
  });
}

void ProxyConnection::on_timeout() {
  switch (phase_) {
    case Phase::tls_handshake:
      listener_->stats->cx_handshake_timeout.inc();
      return finish("proxy", "no TLS handshake within " + seconds_text(listener_->handshake_timeout));
    case Phase::reading_request:
      listener_->stats->cx_handshake_timeout.inc();
      if (handshake_->in.empty()) {
        return finish("proxy", "no request within " + seconds_text(listener_->handshake_timeout));
      }
      return reject(408, "the request did not arrive within " + seconds_text(listener_->handshake_timeout));
    case Phase::connecting:
    case Phase::upstream_tls:
    case Phase::sending_request:
    case Phase::reading_response:
      cluster().stats().cx_connect_timeout.inc();
      return reject(504, "upstream " + endpoint_->display + " did not complete the WebSocket handshake within " +
                             seconds_text(cluster().connect_timeout()));
    case Phase::relaying: {
      if (first_end_) {
        return finish(side_name(*first_end_), "end of stream; the other side did not close within " +
                                                  seconds_text(kHalfCloseDrain));
      }
      auto now = std::chrono::steady_clock::now();
      if (planned_close_ && now >= planned_close_->at) {
        listener_->stats->cx_planned_close.inc();
        return close_with(planned_close_->code, planned_close_->reason);
      }
      if (listener_->idle_timeout.count() > 0 && now - tunnel_->last_activity() >= listener_->idle_timeout) {
        listener_->stats->cx_idle_timeout.inc();
        return finish("proxy", "idle for " + seconds_text(listener_->idle_timeout));
      }
      return arm_relay_timer();
    }
    case Phase::closing:
      return finish("proxy", reason_ + "; the close handshake did not finish within " +
                                 seconds_text(kCloseHandshakeTimeout));
    case Phase::rejecting:
      return finish("proxy", reason_);
    case Phase::closed:
      return;
  }
}

void ProxyConnection::forward_client_certificate() {
  if (handshake_->tls_context == nullptr || handshake_->tls_context->forward_client_cert_header().empty()) return;
  const std::string& header = handshake_->tls_context->forward_client_cert_header();
  handshake_->request->headers.remove(header);
  if (!handshake_->peer) return;
  std::string value = "Subject=\"";
  for (char c : handshake_->peer->subject) {
    if (c == '"' || c == '\\') value += '\\';
    value += c;
  }
  value += '"';
  for (const auto& san : handshake_->peer->sans) {
    auto colon = san.find(':');
    value += ";" + san.substr(0, colon) + "=" + san.substr(colon + 1);
  }
  handshake_->request->headers.add(header, std::move(value));
}

filter::ConnectionInfo ProxyConnection::connection_info() const {
  filter::ConnectionInfo info;
  info.listener = listener_->name;
  if (chain_ != nullptr) info.chain = chain_->name();
  info.client_ip = client_ip_;
  info.client_port = client_port_;
  info.tls = client_->is_tls();
  info.server_name = client_->server_name();
  if (handshake_->peer) {
    info.peer_subject = handshake_->peer->subject;
    info.peer_sans = &handshake_->peer->sans;
  }
  return info;
}

std::string ProxyConnection::describe() const {
  std::string out = client_address_;
  if (!method_.empty()) out += " " + method_ + " " + path_;
  return out;
}

}  // namespace wsproxy::proxy

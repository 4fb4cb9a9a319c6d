// The filter API: what a filter implements and what it sees. A filter is a
// factory, built once per config from its own protobuf message, plus a
// per-connection object with any of the hooks below. Hooks run on the
// connection's worker thread and must not block.
//
// Order: on_connect as soon as the connection's filter chain is known (at
// accept, or after the TLS handshake, or once the request path is read
// when chains are chosen by path), then on_request, both in chain order;
// on_response in reverse order; on_close for every filter created.
// A message hook (whole WebSocket messages, message mode) will join these
// without changing them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "source/http/message.h"

namespace wsproxy::filter {

// What is known about the client's connection.
struct ConnectionInfo {
  std::string_view listener;
  std::string_view chain;
  std::string_view client_ip;
  uint16_t client_port = 0;
  bool tls = false;
  std::string_view server_name;          // SNI; empty if none
  std::string_view peer_subject;         // verified client certificate (mTLS); empty if none
  const std::vector<std::string>* peer_sans = nullptr;  // "DNS:x", "URI:y", "IP:z", "email:w"
};

// Values filters leave for later filters and for the admin API, by name:
// a JWT filter sets "jwt.claim.sub", which header_rewrite and rate_limit
// can use.
class Attributes {
 public:
  void set(std::string name, std::string value);
  const std::string* get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& all() const { return values_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

// A filter's refusal: the answer the client gets and the reason counted in
// filter.<chain>.<filter>.denied.<reason>.
struct Denial {
  int status;
  std::string reason;   // a stats-name-safe word, e.g. "origin_not_allowed"
  std::string message;  // the answer's body and the log line
  std::vector<http::Header> headers;
};

using Verdict = std::optional<Denial>;  // nothing: continue

struct ConnectContext {
  const ConnectionInfo& connection;
  Attributes& attributes;
};

// A filter's request to end the connection at a moment: when the token
// that let it in expires, say.
struct ScheduledClose {
  std::chrono::system_clock::time_point at;
  uint16_t code;  // the WebSocket close code sent to both sides
  std::string reason;
};

struct RequestContext {
  RequestContext(const ConnectionInfo& c, Attributes& a, http::RequestHead& r)
      : connection(c), attributes(a), request(r) {}

  const ConnectionInfo& connection;
  Attributes& attributes;
  // The upgrade request as it will go upstream: filters may change headers
  // (the upgrade fields excepted) and the target's query.
  http::RequestHead& request;
  // Filled by close_at(); the earliest request wins.
  std::optional<ScheduledClose> scheduled_close;

  void close_at(std::chrono::system_clock::time_point at, uint16_t code, std::string reason) {
    if (!scheduled_close || at < scheduled_close->at) scheduled_close = ScheduledClose{at, code, std::move(reason)};
  }
};

struct ResponseContext {
  const ConnectionInfo& connection;
  Attributes& attributes;
  const http::RequestHead& request;
  // The upstream's 101 as it will go to the client.
  http::ResponseHead& response;
};

class Filter {
 public:
  virtual ~Filter() = default;
  virtual Verdict on_connect(ConnectContext&) { return std::nullopt; }
  virtual Verdict on_request(RequestContext&) { return std::nullopt; }
  virtual void on_response(ResponseContext&) {}
  virtual void on_close() {}
};

// Built from one filter config; shared by every connection of the config
// generation that holds it.
class FilterFactory {
 public:
  virtual ~FilterFactory() = default;
  virtual std::unique_ptr<Filter> create_filter() const = 0;
};

}  // namespace wsproxy::filter

// The WebSocket opening handshake as a proxy sees it (RFC 6455 section 4):
// checking the client's upgrade request, forwarding it, and checking and
// relaying the upstream's 101 answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "source/http/message.h"

namespace wsproxy::http {

// Why a request cannot be proxied: the status to answer, a short message
// for the body and the log, and any headers the answer needs.
struct Rejection {
  int status;
  std::string message;
  std::vector<Header> headers;
};

// RFC 6455 section 4.2.1 checks, plus what a proxy must refuse to forward
// (a body, a target that is not a clean absolute path). Nothing if valid.
std::optional<Rejection> check_upgrade_request(const RequestHead& request);

// The path of a request target, without its query.
std::string_view target_path(std::string_view target);

// What the proxy adds about the client when forwarding.
struct Forwarding {
  std::string client_ip;
  bool client_tls = false;
};

// The request sent upstream: hop-by-hop fields dropped (those named by
// Connection too), the upgrade pair restated, X-Forwarded-For appended to,
// X-Forwarded-Proto and X-Forwarded-Host set. Sec-WebSocket-Key and all
// other end-to-end fields pass unchanged.
std::string upstream_request(const RequestHead& request, const Forwarding& forwarding);

// base64(SHA-1(key + the RFC 6455 GUID)): the Sec-WebSocket-Accept value.
std::string websocket_accept(std::string_view key);

// Checks the upstream's answer to `request`: 101, the upgrade pair, the
// right Sec-WebSocket-Accept, and a subprotocol the client offered. A
// description of the problem, or nothing if the answer is valid.
std::optional<std::string> check_upgrade_response(const ResponseHead& response, const RequestHead& request);

// The 101 relayed to the client: the upstream's fields (subprotocol and
// extension choice included) minus hop-by-hop ones.
std::string downstream_response(const ResponseHead& response);

}  // namespace wsproxy::http

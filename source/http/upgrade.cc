// WebSocket opening handshake handling.
#include "source/http/upgrade.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace wsproxy::http {
namespace {

// Fields that describe one connection, not the message (RFC 9110 7.6.1),
// plus the proxy-authentication pair meant for this hop only.
constexpr std::string_view kHopByHop[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                                          "transfer-encoding", "upgrade", "proxy-authorization",
                                          "proxy-authenticate"};

bool is_hop_by_hop(std::string_view name, const HeaderMap& headers) {
  for (auto h : kHopByHop) {
    if (iequals(name, h)) return true;
  }
  return headers.has_token("connection", name);
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// A base64-encoded 16-byte value: 22 characters and "==".
bool is_valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    if (!is_base64_char(c)) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A segment that is "." or "..", also when written with %2e.
bool is_dot_segment(std::string_view segment) {
  std::string decoded;
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '%' && i + 2 < segment.size() && hex_value(segment[i + 1]) == 2 && (segment[i + 2] == 'e' || segment[i + 2] == 'E')) {
      decoded += '.';
      i += 2;
    } else {
      decoded += segment[i];
    }
  }
  return decoded == "." || decoded == "..";
}

std::optional<std::string> check_target(std::string_view target) {
  if (target.empty() || target[0] != '/') return "the request target must be an absolute path";
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7F) return "the request target has a byte that is not printable ASCII";
  }
  std::string_view path = target_path(target);
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    std::string_view segment = path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (is_dot_segment(segment)) return "the request path has a \".\" or \"..\" segment";
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '%' && (i + 2 >= target.size() || hex_value(target[i + 1]) < 0 || hex_value(target[i + 2]) < 0)) {
      return "the request target has an invalid percent-encoding";
    }
  }
  return std::nullopt;
}

Rejection reject(int status, std::string message) { return {status, std::move(message), {}}; }

}  // namespace

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

std::optional<Rejection> check_upgrade_request(const RequestHead& request) {
  const HeaderMap& h = request.headers;
  if (!h.has_token("upgrade", "websocket")) {
    return Rejection{426, "this is a WebSocket endpoint: send a WebSocket upgrade request",
                     {{"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"}}};
  }
  if (request.version_minor != 1) return reject(400, "a WebSocket upgrade needs HTTP/1.1");
  if (request.method != "GET") return reject(400, "a WebSocket upgrade must use GET");
  if (!h.has_token("connection", "upgrade")) return reject(400, "the Connection header must contain \"upgrade\"");
  if (h.count("host") != 1 || h.get("host")->empty()) return reject(400, "exactly one non-empty Host header is required");
  std::size_t keys = h.count("sec-websocket-key");
  if (keys == 0) return reject(400, "the Sec-WebSocket-Key header is missing");
  if (keys > 1) return reject(400, "the Sec-WebSocket-Key header appears more than once");
  if (!is_valid_key(*h.get("sec-websocket-key"))) {
    return reject(400, "Sec-WebSocket-Key is not a base64-encoded 16-byte value");
  }
  if (h.count("sec-websocket-version") != 1 || *h.get("sec-websocket-version") != "13") {
    return Rejection{426, "only WebSocket version 13 is supported", {{"Sec-WebSocket-Version", "13"}}};
  }
  if (h.count("transfer-encoding") != 0) return reject(400, "a WebSocket upgrade cannot have Transfer-Encoding");
  if (h.count("content-length") > 1 || (h.count("content-length") == 1 && *h.get("content-length") != "0")) {
    return reject(400, "a WebSocket upgrade cannot have a body");
  }
  if (auto problem = check_target(request.target)) return reject(400, *problem);
  return std::nullopt;
}

std::string upstream_request(const RequestHead& request, const Forwarding& forwarding) {
  const HeaderMap& h = request.headers;
  std::string out;
  out.reserve(512);
  out.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  std::string forwarded_for;
  for (const auto& field : h) {
    if (iequals(field.name, "x-forwarded-for")) {
      forwarded_for.append(forwarded_for.empty() ? "" : ", ").append(field.value);
      continue;
    }
    if (is_hop_by_hop(field.name, h) || iequals(field.name, "x-forwarded-proto") ||
        iequals(field.name, "x-forwarded-host")) {
      continue;
    }
    out.append(field.name).append(": ").append(field.value).append("\r\n");
  }
  forwarded_for.append(forwarded_for.empty() ? "" : ", ").append(forwarding.client_ip);
  out.append("Upgrade: websocket\r\nConnection: Upgrade\r\n");
  out.append("X-Forwarded-For: ").append(forwarded_for).append("\r\n");
  out.append("X-Forwarded-Proto: ").append(forwarding.client_tls ? "https" : "http").append("\r\n");
  out.append("X-Forwarded-Host: ").append(*h.get("host")).append("\r\n\r\n");
  return out;
}

std::string websocket_accept(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(key);
  input.append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(encoded), n);
}

std::optional<std::string> check_upgrade_response(const ResponseHead& response, const RequestHead& request) {
  const HeaderMap& h = response.headers;
  if (response.status != 101) {
    return "the upstream answered " + std::to_string(response.status) + " instead of 101";
  }
  if (!h.has_token("upgrade", "websocket")) return std::string("the upstream's 101 has no \"Upgrade: websocket\"");
  if (!h.has_token("connection", "upgrade")) return std::string("the upstream's 101 has no \"Connection: upgrade\"");
  if (h.count("sec-websocket-accept") != 1) return std::string("the upstream's 101 has no single Sec-WebSocket-Accept");
  if (*h.get("sec-websocket-accept") != websocket_accept(*request.headers.get("sec-websocket-key"))) {
    return std::string("the upstream's Sec-WebSocket-Accept does not match the key");
  }
  auto chosen = h.tokens("sec-websocket-protocol");
  if (chosen.size() > 1) return std::string("the upstream chose more than one subprotocol");
  if (chosen.size() == 1) {
    bool offered = false;
    for (auto p : request.headers.tokens("sec-websocket-protocol")) offered = offered || p == chosen[0];
    if (!offered) return "the upstream chose subprotocol \"" + std::string(chosen[0]) + "\", which the client did not offer";
  }
  return std::nullopt;
}

std::string downstream_response(const ResponseHead& response) {
  std::string out = "HTTP/1.1 101 Switching Protocols\r\n";
  for (const auto& field : response.headers) {
    if (is_hop_by_hop(field.name, response.headers)) continue;
    out.append(field.name).append(": ").append(field.value).append("\r\n");
  }
  out.append("Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  return out;
}

}  // namespace wsproxy::http

// TLS termination: the OpenSSL contexts of a listener and of its filter
// chains, and the choice among them by the client's server name (SNI),
// made in OpenSSL's client-hello callback so that the chosen context's
// versions, ciphers and client-certificate rules are the ones negotiated.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "source/config/loader.h"

struct ssl_ctx_st;
struct ssl_st;

namespace wsproxy::network {

// One DownstreamTlsContext: an OpenSSL context per certificate, all with
// the same settings.
class TlsServerContext {
 public:
  // Returns null after reporting each problem to `scope` (the tls message).
  static std::shared_ptr<TlsServerContext> create(const config::v1::DownstreamTlsContext& proto,
                                                   const config::LoadedConfig& config,
                                                   const config::FieldScope& scope);
  ~TlsServerContext();

  // The context of the certificate whose names fit `server_name`: an exact
  // name first, then a wildcard, else the first certificate.
  ssl_ctx_st* context_for(std::string_view server_name) const;
  // Where the verified client certificate is forwarded; empty: nowhere.
  const std::string& forward_client_cert_header() const { return forward_header_; }
  // The cipher lists a session switched to this context takes.
  const char* cipher_suites() const { return cipher_suites_.c_str(); }
  const char* tls13_cipher_suites() const { return tls13_cipher_suites_.empty() ? nullptr : tls13_cipher_suites_.c_str(); }

 private:
  friend class TlsServerSelector;
  struct Certificate {
    ssl_ctx_st* ctx;
    std::vector<std::string> names;  // DNS SANs, else the CN
  };
  TlsServerContext() = default;

  std::vector<Certificate> certificates_;
  std::string cipher_suites_;
  std::string tls13_cipher_suites_;
  std::string forward_header_;
  std::vector<unsigned char> alpn_;  // wire format: length-prefixed names
};

// A listener's TLS: its own context, and those of filter chains that apply
// to given server names.
class TlsServerSelector {
 public:
  struct ByServerName {
    std::vector<std::string> patterns;  // exact or *.wildcard
    std::shared_ptr<const TlsServerContext> context;
  };

  TlsServerSelector(std::shared_ptr<const TlsServerContext> listener_context, std::vector<ByServerName> chains);

  // A new session in the server role; the context is chosen when the
  // client's hello arrives.
  ssl_st* new_session() const;
  // The context for `server_name`: the first chain whose patterns match,
  // else the listener's.
  const TlsServerContext& context_for(std::string_view server_name) const;

 private:
  std::shared_ptr<const TlsServerContext> listener_context_;
  std::vector<ByServerName> chains_;
};

// A verified client certificate.
struct PeerCertificate {
  std::string subject;             // RFC 2253, e.g. "CN=alice,O=Example"
  std::vector<std::string> sans;   // "DNS:x", "URI:y", "IP:z", "email:w"
};

// The client's certificate if it sent one and it was verified.
std::optional<PeerCertificate> verified_peer_certificate(ssl_st* ssl);

}  // namespace wsproxy::network

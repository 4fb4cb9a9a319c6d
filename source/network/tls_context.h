// OpenSSL contexts built from config: one per TLS listener (server side) and
// one per TLS cluster (client side). Immutable once built and shared by all
// workers; each connection takes a new SSL session from one.
#pragma once

#include <memory>
#include <string>

#include "source/config/loader.h"

struct ssl_ctx_st;
struct ssl_st;

namespace wsproxy::network {

class TlsServerContext {
 public:
  // Loads certificates and settings; returns null after reporting each
  // problem (unreadable file, key not matching the certificate...) to `scope`.
  static std::shared_ptr<TlsServerContext> create(const config::v1::DownstreamTlsContext& proto,
                                                   const config::LoadedConfig& config,
                                                   const config::FieldScope& scope);
  ~TlsServerContext();

  // A new session in the server (accept) role.
  ssl_st* new_session() const;

 private:
  explicit TlsServerContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

class TlsClientContext {
 public:
  static std::shared_ptr<TlsClientContext> create(const config::v1::UpstreamTlsContext& proto,
                                                   const config::LoadedConfig& config,
                                                   const config::FieldScope& scope);
  ~TlsClientContext();

  // A new session in the client role towards `endpoint_host`: SNI and the
  // verified name are the configured sni, or else the endpoint's host name
  // (an IP address is checked against the certificate's IP SANs).
  ssl_st* new_session(const std::string& endpoint_host) const;

 private:
  TlsClientContext(ssl_ctx_st* ctx, std::string sni, bool verify) : ctx_(ctx), sni_(std::move(sni)), verify_(verify) {}
  ssl_ctx_st* ctx_;
  std::string sni_;
  bool verify_;
};

}  // namespace wsproxy::network

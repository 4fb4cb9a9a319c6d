// The OpenSSL context of a TLS cluster (wss:// upstreams): trust store,
// optional client certificate, and per-connection SNI and name checks.
#pragma once

#include <memory>
#include <string>

#include "source/config/loader.h"

struct ssl_ctx_st;
struct ssl_st;

namespace wsproxy::network {

class TlsClientContext {
 public:
  // Returns null after reporting each problem to `scope` (the tls message).
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

// The client-side TLS context.
#include "source/network/tls_client_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "source/network/stream.h"
#include "source/network/tls_common.h"
#include "source/network/tls_errors.h"

namespace wsproxy::network {

std::shared_ptr<TlsClientContext> TlsClientContext::create(const config::v1::UpstreamTlsContext& proto,
                                                           const config::LoadedConfig& config,
                                                           const config::FieldScope& scope) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    scope.error("cannot create a TLS context: " + take_tls_error_text());
    return nullptr;
  }
  bool verify = !proto.insecure_skip_verify();
  std::shared_ptr<TlsClientContext> context(new TlsClientContext(ctx, proto.sni(), verify));
  tls::apply_common(ctx, tls::openssl_version(proto.min_version(), TLS1_2_VERSION), TLS1_3_VERSION);
  bool ok = true;
  ERR_clear_error();
  if (!proto.ca_file().empty()) {
    std::string ca = config.resolve_path(proto.ca_file());
    if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
      scope.error("ca_file", "cannot load \"" + ca + "\": " + take_tls_error_text());
      ok = false;
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    scope.error("cannot load the system's trusted certificates: " + take_tls_error_text());
    ok = false;
  }
  SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  enable_tls13_takeover(ctx);
  if (proto.has_client_certificate()) {
    ok = tls::load_certificate(ctx, proto.client_certificate(), config, scope.child("client_certificate")) && ok;
  }
  return ok ? context : nullptr;
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

SSL* TlsClientContext::new_session(const std::string& endpoint_host) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  SSL_set_connect_state(ssl);
  const std::string& name = sni_.empty() ? endpoint_host : sni_;
  bool ip = tls::is_ip_address(name);
  // RFC 6066: SNI carries host names only, never IP literals.
  if (!ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (verify_) {
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, name.c_str());
    }
  }
  return ssl;
}

}  // namespace wsproxy::network

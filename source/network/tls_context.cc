// OpenSSL context construction.
#include "source/network/tls_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "source/network/tls_errors.h"

namespace wsproxy::network {
namespace {

using config::FieldScope;

// TLS 1.2 suites with forward secrecy and AEAD only (Mozilla "intermediate"
// without DHE); TLS 1.3 uses OpenSSL's defaults, all of which qualify.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

int to_openssl_version(config::v1::TlsVersion version, int fallback) {
  switch (version) {
    case config::v1::TLS_VERSION_1_2: return TLS1_2_VERSION;
    case config::v1::TLS_VERSION_1_3: return TLS1_3_VERSION;
    default: return fallback;
  }
}

// Settings both roles share. Buffers are released while a connection is
// idle, which is most of a WebSocket's life.
void apply_common(SSL_CTX* ctx, int min_version, int max_version) {
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
}

bool load_certificate(SSL_CTX* ctx, const config::v1::TlsCertificate& cert,
                      const config::LoadedConfig& config, const FieldScope& scope) {
  std::string chain = config.resolve_path(cert.certificate_chain_file());
  std::string key = config.resolve_path(cert.private_key_file());
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, chain.c_str()) != 1) {
    scope.error("certificate_chain_file", "cannot load \"" + chain + "\": " + take_tls_error_text());
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    scope.error("private_key_file", "cannot load \"" + key + "\": " + take_tls_error_text());
    return false;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    scope.error("private_key_file", "\"" + key + "\" does not match the certificate in \"" + chain + "\"");
    ERR_clear_error();
    return false;
  }
  return true;
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::shared_ptr<TlsServerContext> TlsServerContext::create(const config::v1::DownstreamTlsContext& proto,
                                                           const config::LoadedConfig& config,
                                                           const FieldScope& scope) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    scope.error("cannot create a TLS context: " + take_tls_error_text());
    return nullptr;
  }
  std::shared_ptr<TlsServerContext> context(new TlsServerContext(ctx));
  apply_common(ctx, to_openssl_version(proto.min_version(), TLS1_2_VERSION),
               to_openssl_version(proto.max_version(), TLS1_3_VERSION));
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  static const unsigned char kSessionContext[] = "wsproxy";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  bool ok = true;
  for (int i = 0; i < proto.certificates_size(); ++i) {
    ok = load_certificate(ctx, proto.certificates(i), config, scope.child("certificates", i)) && ok;
  }
  return ok ? context : nullptr;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

SSL* TlsServerContext::new_session() const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl != nullptr) SSL_set_accept_state(ssl);
  return ssl;
}

std::shared_ptr<TlsClientContext> TlsClientContext::create(const config::v1::UpstreamTlsContext& proto,
                                                           const config::LoadedConfig& config,
                                                           const FieldScope& scope) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    scope.error("cannot create a TLS context: " + take_tls_error_text());
    return nullptr;
  }
  bool verify = !proto.insecure_skip_verify();
  std::shared_ptr<TlsClientContext> context(new TlsClientContext(ctx, proto.sni(), verify));
  apply_common(ctx, to_openssl_version(proto.min_version(), TLS1_2_VERSION), TLS1_3_VERSION);
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
  if (proto.has_client_certificate()) {
    ok = load_certificate(ctx, proto.client_certificate(), config, scope.child("client_certificate")) && ok;
  }
  return ok ? context : nullptr;
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

SSL* TlsClientContext::new_session(const std::string& endpoint_host) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  SSL_set_connect_state(ssl);
  const std::string& name = sni_.empty() ? endpoint_host : sni_;
  bool ip = is_ip_address(name);
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

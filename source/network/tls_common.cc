// Helpers shared by the TLS contexts.
#include "source/network/tls_common.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "source/network/tls_errors.h"

namespace wsproxy::network::tls {

int openssl_version(config::v1::TlsVersion version, int fallback) {
  switch (version) {
    case config::v1::TLS_VERSION_1_2: return TLS1_2_VERSION;
    case config::v1::TLS_VERSION_1_3: return TLS1_3_VERSION;
    default: return fallback;
  }
}

void apply_common(SSL_CTX* ctx, int min_version, int max_version) {
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read whole socket buffers rather than a record header, then its body:
  // half the read calls. Safe with readiness waits: wsproxy waits only
  // after SSL_read asks for more bytes.
  SSL_CTX_set_read_ahead(ctx, 1);
}

bool load_certificate(SSL_CTX* ctx, const config::v1::TlsCertificate& cert, const config::LoadedConfig& config,
                      const config::FieldScope& scope) {
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

}  // namespace wsproxy::network::tls

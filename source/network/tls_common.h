// Helpers shared by the server and client TLS contexts (internal to
// source/network).
#pragma once

#include <string>

#include "source/config/loader.h"

struct ssl_ctx_st;

namespace wsproxy::network::tls {

// OpenSSL's version constant for `version`, or `fallback` if unspecified.
int openssl_version(config::v1::TlsVersion version, int fallback);

// Versions, compression and renegotiation off, buffers released while a
// connection is idle, partial writes: what every wsproxy context needs.
void apply_common(ssl_ctx_st* ctx, int min_version, int max_version);

// Loads a certificate chain and its key into `ctx`, checking they match;
// reports problems to `scope` (the TlsCertificate message).
bool load_certificate(ssl_ctx_st* ctx, const config::v1::TlsCertificate& cert, const config::LoadedConfig& config,
                      const config::FieldScope& scope);

bool is_ip_address(const std::string& host);

}  // namespace wsproxy::network::tls

// Server-side TLS contexts and their selection by server name.
#include "source/network/tls_server_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "source/common/server_name.h"
#include "source/network/stream.h"
#include "source/network/tls_common.h"
#include "source/network/tls_errors.h"

namespace wsproxy::network {
namespace {

using config::FieldScope;

// TLS 1.2 suites with forward secrecy and AEAD only (Mozilla "intermediate"
// without DHE); TLS 1.3 keeps OpenSSL's defaults, all of which qualify.
constexpr char kDefaultTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// RFC 6125: a certificate's "*.example.com" covers exactly one label.
bool certificate_wildcard_matches(std::string_view pattern, std::string_view name) {
  std::string_view suffix = pattern.substr(1);  // ".example.com"
  if (name.size() <= suffix.size()) return false;
  std::string_view label = name.substr(0, name.size() - suffix.size());
  return label.find('.') == std::string_view::npos && iequals(name.substr(label.size()), suffix);
}

std::vector<std::string> certificate_names(SSL_CTX* ctx) {
  std::vector<std::string> names;
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    if (name->type == GEN_DNS) {
      const ASN1_STRING* s = name->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    }
  }
  GENERAL_NAMES_free(sans);
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0) {
      names.emplace_back(cn);
    }
  }
  return names;
}

// ALPN: the first of the listener's protocols that the client offers; no
// ALPN at all (rather than a failed handshake) when there is none.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void* arg) {
  const auto* protocols = static_cast<const std::vector<unsigned char>*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, protocols->data(), protocols->size(), in, in_len) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// The host name in the ClientHello's server_name extension, or "".
std::string_view client_hello_server_name(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 5) return {};
  size_t list = (static_cast<size_t>(p[0]) << 8) | p[1];
  if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name) return {};
  size_t name = (static_cast<size_t>(p[3]) << 8) | p[4];
  if (name + 5 > len) return {};
  return std::string_view(reinterpret_cast<const char*>(p + 5), name);
}

}  // namespace

std::shared_ptr<TlsServerContext> TlsServerContext::create(const config::v1::DownstreamTlsContext& proto,
                                                           const config::LoadedConfig& config,
                                                           const FieldScope& scope) {
  std::shared_ptr<TlsServerContext> context(new TlsServerContext());
  context->cipher_suites_ = proto.cipher_suites().empty() ? kDefaultTls12Ciphers : proto.cipher_suites();
  context->tls13_cipher_suites_ = proto.tls13_cipher_suites();
  context->forward_header_ = proto.client_certificate().forward_header();
  for (const auto& p : proto.alpn_protocols()) {
    context->alpn_.push_back(static_cast<unsigned char>(p.size()));
    context->alpn_.insert(context->alpn_.end(), p.begin(), p.end());
  }
  if (context->alpn_.empty()) context->alpn_ = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

  bool ok = true;
  for (int i = 0; i < proto.certificates_size(); ++i) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) {
      scope.error("cannot create a TLS context: " + take_tls_error_text());
      return nullptr;
    }
    context->certificates_.push_back({ctx, {}});
    tls::apply_common(ctx, tls::openssl_version(proto.min_version(), TLS1_2_VERSION),
                      tls::openssl_version(proto.max_version(), TLS1_3_VERSION));
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    enable_tls13_takeover(ctx);
    // One TLS 1.3 session ticket, not OpenSSL's two: a client resumes
    // with one, and each costs an encryption and a record per handshake.
    SSL_CTX_set_num_tickets(ctx, 1);
    static const unsigned char kSessionContext[] = "wsproxy";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
    ERR_clear_error();
    if (SSL_CTX_set_cipher_list(ctx, context->cipher_suites_.c_str()) != 1) {
      if (i == 0) scope.error("cipher_suites", "no known cipher in \"" + proto.cipher_suites() + "\"");
      ok = false;
    }
    if (!context->tls13_cipher_suites_.empty() && SSL_CTX_set_ciphersuites(ctx, context->tls13_cipher_suites_.c_str()) != 1) {
      if (i == 0) scope.error("tls13_cipher_suites", "no known cipher in \"" + proto.tls13_cipher_suites() + "\"");
      ok = false;
    }
    ERR_clear_error();
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, &context->alpn_);
    if (proto.has_client_certificate()) {
      const auto& validation = proto.client_certificate();
      std::string ca = config.resolve_path(validation.ca_file());
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
      if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1 || names == nullptr) {
        if (i == 0) {
          scope.child("client_certificate").error("ca_file", "cannot load \"" + ca + "\": " + take_tls_error_text());
        }
        ok = false;
      } else {
        SSL_CTX_set_client_CA_list(ctx, names);
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (validation.optional() ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT), nullptr);
    }
    if (tls::load_certificate(ctx, proto.certificates(i), config, scope.child("certificates", i))) {
      context->certificates_.back().names = certificate_names(ctx);
    } else {
      ok = false;
    }
  }
  return ok ? context : nullptr;
}

TlsServerContext::~TlsServerContext() {
  for (auto& c : certificates_) SSL_CTX_free(c.ctx);
}

SSL_CTX* TlsServerContext::context_for(std::string_view server_name) const {
  if (!server_name.empty()) {
    for (const auto& c : certificates_) {
      for (const auto& name : c.names) {
        if (iequals(name, server_name)) return c.ctx;
      }
    }
    for (const auto& c : certificates_) {
      for (const auto& name : c.names) {
        if (name.substr(0, 2) == "*." && certificate_wildcard_matches(name, server_name)) return c.ctx;
      }
    }
  }
  return certificates_.front().ctx;
}

namespace {

// Runs before the version and cipher are chosen: switches the session to
// the context for the client's server name, with all its settings.
int on_client_hello(SSL* ssl, int*, void* arg) {
  const auto* selector = static_cast<const TlsServerSelector*>(arg);
  std::string_view name = client_hello_server_name(ssl);
  const TlsServerContext& context = selector->context_for(name);
  SSL_CTX* ctx = context.context_for(name);
  if (ctx == SSL_get_SSL_CTX(ssl)) return SSL_CLIENT_HELLO_SUCCESS;
  // SSL_set_SSL_CTX takes the certificate and trust store; what a session
  // copied from its first context at creation is set again here.
  SSL_set_SSL_CTX(ssl, ctx);
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), nullptr);
  SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx));
  SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx));
  SSL_set_options(ssl, SSL_CTX_get_options(ctx));
  SSL_set_cipher_list(ssl, context.cipher_suites());
  if (const char* suites = context.tls13_cipher_suites()) SSL_set_ciphersuites(ssl, suites);
  STACK_OF(X509_NAME)* cas = SSL_CTX_get_client_CA_list(ctx);
  SSL_set_client_CA_list(ssl, cas != nullptr ? SSL_dup_CA_list(cas) : nullptr);
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace

TlsServerSelector::TlsServerSelector(std::shared_ptr<const TlsServerContext> listener_context,
                                     std::vector<ByServerName> chains)
    : listener_context_(std::move(listener_context)), chains_(std::move(chains)) {
  // Every session starts on the listener's first certificate; its context
  // also holds the session-ticket keys, so resumption works whatever
  // context the hello switches to.
  SSL_CTX_set_client_hello_cb(listener_context_->certificates_.front().ctx, on_client_hello,
                              const_cast<TlsServerSelector*>(this));
}

SSL* TlsServerSelector::new_session() const {
  SSL* ssl = SSL_new(listener_context_->certificates_.front().ctx);
  if (ssl != nullptr) SSL_set_accept_state(ssl);
  return ssl;
}

const TlsServerContext& TlsServerSelector::context_for(std::string_view server_name) const {
  if (!server_name.empty()) {
    for (const auto& chain : chains_) {
      for (const auto& pattern : chain.patterns) {
        if (server_name_matches(pattern, server_name)) return *chain.context;
      }
    }
  }
  return *listener_context_;
}

std::optional<PeerCertificate> verified_peer_certificate(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  PeerCertificate out;
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  out.subject.assign(data, len);
  BIO_free(bio);
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    auto text = [](const ASN1_STRING* s) {
      return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    };
    switch (name->type) {
      case GEN_DNS: out.sans.push_back("DNS:" + text(name->d.dNSName)); break;
      case GEN_URI: out.sans.push_back("URI:" + text(name->d.uniformResourceIdentifier)); break;
      case GEN_EMAIL: out.sans.push_back("email:" + text(name->d.rfc822Name)); break;
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* ip = name->d.iPAddress;
        char buf[INET6_ADDRSTRLEN] = {};
        int family = ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6;
        if (inet_ntop(family, ASN1_STRING_get0_data(ip), buf, sizeof(buf)) != nullptr) {
          out.sans.push_back(std::string("IP:") + buf);
        }
        break;
      }
      default: break;
    }
  }
  GENERAL_NAMES_free(sans);
  return out;
}

}  // namespace wsproxy::network

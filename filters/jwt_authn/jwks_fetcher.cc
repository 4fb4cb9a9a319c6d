// Remote JWKS fetching with Beast over OpenSSL.
#include "filters/jwt_authn/jwks_fetcher.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "source/common/log.h"
#include "source/config/duration.h"

namespace wsproxy::filters::jwt_authn {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

constexpr std::size_t kMaxDocumentBytes = 1 << 20;

}  // namespace

std::shared_ptr<JwksFetcher> JwksFetcher::create(const v1::RemoteJwks& proto, const config::LoadedConfig& config,
                                                 const config::FieldScope& scope, stats::Store& store,
                                                 const std::string& stats_prefix) {
  std::shared_ptr<JwksFetcher> fetcher(new JwksFetcher());
  const std::string& uri = proto.uri();
  fetcher->uri_ = uri;
  constexpr std::string_view kScheme = "https://";
  if (uri.compare(0, kScheme.size(), kScheme) != 0) {
    scope.error("uri", "\"" + uri + "\" must be an https:// URL");
    return nullptr;
  }
  std::string rest = uri.substr(kScheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  fetcher->target_ = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    fetcher->host_ = authority.substr(0, colon);
    fetcher->port_ = authority.substr(colon + 1);
  } else {
    fetcher->host_ = authority;
    fetcher->port_ = "443";
  }
  if (!fetcher->host_.empty() && fetcher->host_.front() == '[') fetcher->host_ = fetcher->host_.substr(1, fetcher->host_.size() - 2);
  if (fetcher->host_.empty() || fetcher->port_.empty() ||
      fetcher->port_.find_first_not_of("0123456789") != std::string::npos) {
    scope.error("uri", "\"" + uri + "\" has no valid host and port");
    return nullptr;
  }
  if (proto.has_cache_duration()) fetcher->cache_duration_ = config::to_milliseconds(proto.cache_duration());
  if (proto.has_timeout()) fetcher->timeout_ = config::to_milliseconds(proto.timeout());
  if (fetcher->cache_duration_.count() < 1000) {
    scope.error("cache_duration", "must be at least 1 s");
    return nullptr;
  }
  if (fetcher->timeout_.count() < 1) {
    scope.error("timeout", "must be at least 1 ms");
    return nullptr;
  }
  fetcher->ssl_ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(fetcher->ssl_ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(fetcher->ssl_ctx_, SSL_VERIFY_PEER, nullptr);
  ERR_clear_error();
  if (!proto.ca_file().empty()) {
    std::string ca = config.resolve_path(proto.ca_file());
    if (SSL_CTX_load_verify_locations(fetcher->ssl_ctx_, ca.c_str(), nullptr) != 1) {
      scope.error("ca_file", "cannot load \"" + ca + "\"");
      ERR_clear_error();
      return nullptr;
    }
  } else {
    SSL_CTX_set_default_verify_paths(fetcher->ssl_ctx_);
  }
  fetcher->fetch_ok_ = &store.counter(stats_prefix + "jwks_fetch_ok");
  fetcher->fetch_failed_ = &store.counter(stats_prefix + "jwks_fetch_failed");
  return fetcher;
}

JwksFetcher::~JwksFetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (ssl_ctx_ != nullptr) SSL_CTX_free(ssl_ctx_);
}

void JwksFetcher::start() {
  thread_ = std::thread([this] { run(); });
}

void JwksFetcher::run() {
  std::chrono::milliseconds retry{1000};
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    std::string error;
    std::optional<std::string> body = fetch(error);
    std::shared_ptr<const KeySet> keys;
    if (body) {
      std::string skipped;
      keys = parse_jwks(*body, error, &skipped);
      if (keys && !skipped.empty()) log::warn("jwt_authn: " + uri_ + ": keys left out: " + skipped);
    }
    std::chrono::milliseconds next;
    if (keys) {
      std::atomic_store(&keys_, keys);
      fetch_ok_->inc();
      log::debug("jwt_authn: fetched " + std::to_string(keys->keys.size()) + " key(s) from " + uri_);
      retry = std::chrono::milliseconds(1000);
      next = cache_duration_;
    } else {
      fetch_failed_->inc();
      log::warn("jwt_authn: cannot fetch " + uri_ + ": " + error + (this->keys() ? "; keeping the last keys" : "; tokens are refused until it works") +
                "; retrying in " + std::to_string(retry.count() / 1000) + " s");
      next = retry;
      retry = std::min(retry * 2, std::min(cache_duration_, std::chrono::milliseconds(60000)));
    }
    lock.lock();
    wake_.wait_for(lock, next, [this] { return stopping_; });
  }
}

std::optional<std::string> JwksFetcher::fetch(std::string& error) {
  boost::asio::io_context io;
  boost::asio::ssl::context ssl(SSL_CTX_up_ref(ssl_ctx_) == 1 ? ssl_ctx_ : nullptr);
  tcp::resolver resolver(io);
  beast::ssl_stream<beast::tcp_stream> stream(io, ssl);
  http::request<http::empty_body> request{http::verb::get, target_, 11};
  request.set(http::field::host, host_);
  request.set(http::field::accept, "application/json");
  request.set(http::field::user_agent, "wsproxy");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxDocumentBytes);
  boost::system::error_code result;
  const char* step = "resolve";

  SSL* ssl_session = stream.native_handle();
  SSL_set_tlsext_host_name(ssl_session, host_.c_str());
  unsigned char ip[16];
  if (inet_pton(AF_INET, host_.c_str(), ip) == 1 || inet_pton(AF_INET6, host_.c_str(), ip) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_session), host_.c_str());
  } else {
    SSL_set1_host(ssl_session, host_.c_str());
  }

  auto deadline = std::chrono::steady_clock::now() + timeout_;
  auto remaining = [&] { return deadline - std::chrono::steady_clock::now(); };
  resolver.async_resolve(host_, port_, [&](const boost::system::error_code& ec, tcp::resolver::results_type results) {
    if (ec) return void(result = ec);
    step = "connect to";
    beast::get_lowest_layer(stream).expires_after(remaining());
    beast::get_lowest_layer(stream).async_connect(results, [&](const boost::system::error_code& ec, const tcp::endpoint&) {
      if (ec) return void(result = ec);
      step = "TLS with";
      stream.async_handshake(boost::asio::ssl::stream_base::client, [&](const boost::system::error_code& ec) {
        if (ec) return void(result = ec);
        step = "send to";
        http::async_write(stream, request, [&](const boost::system::error_code& ec, std::size_t) {
          if (ec) return void(result = ec);
          step = "read from";
          http::async_read(stream, buffer, parser, [&](const boost::system::error_code& ec, std::size_t) {
            result = ec;
          });
        });
      });
    });
  });
  io.run_for(timeout_ + std::chrono::seconds(1));
  if (!io.stopped()) result = boost::asio::error::timed_out;
  if (result) {
    long verify = SSL_get_verify_result(ssl_session);
    error = std::string("cannot ") + step + " " + host_ + ":" + port_ + ": " + result.message() +
            (verify != X509_V_OK ? std::string(" (") + X509_verify_cert_error_string(verify) + ")" : "");
    return std::nullopt;
  }
  const auto& response = parser.get();
  if (response.result_int() != 200) {
    error = "HTTP status " + std::to_string(response.result_int());
    return std::nullopt;
  }
  return response.body();
}

}  // namespace wsproxy::filters::jwt_authn

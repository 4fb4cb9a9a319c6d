// Readiness-driven plain and TLS streams.
#include "source/network/stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "source/network/tls_errors.h"

namespace wsproxy::network {

Stream::Stream(Socket socket, ssl_st* ssl) : socket_(std::move(socket)), ssl_(ssl) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  if (ssl_ != nullptr) SSL_set_fd(ssl_, socket_.native_handle());
}

Stream::~Stream() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

IoResult Stream::tls_failure(int ret) {
  int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return {Io::want_read};
    case SSL_ERROR_WANT_WRITE:
      return {Io::want_write};
    case SSL_ERROR_ZERO_RETURN:
      return {Io::eof};
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0 && errno == 0) return {Io::eof};
      error_ = errno != 0 ? std::strerror(errno) : take_tls_error_text();
      ERR_clear_error();
      return {Io::error};
    default:
      error_ = take_tls_error_text();
      return {Io::error};
  }
}

IoResult Stream::plain_failure(const boost::system::error_code& ec) {
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) return {Io::want_read};
  if (ec == boost::asio::error::eof) return {Io::eof};
  error_ = ec.message();
  return {Io::error};
}

IoResult Stream::handshake() {
  if (ssl_ == nullptr) return {Io::done};
  ERR_clear_error();
  errno = 0;
  int ret = SSL_do_handshake(ssl_);
  if (ret == 1) return {Io::done};
  IoResult result = tls_failure(ret);
  if (result.status == Io::eof) {
    error_ = "the peer closed the connection during the TLS handshake";
    result.status = Io::error;
  }
  long verify = SSL_get_verify_result(ssl_);
  if (result.status == Io::error && verify != X509_V_OK) {
    error_ += std::string(": ") + X509_verify_cert_error_string(verify);
  }
  return result;
}

IoResult Stream::read_some(char* data, std::size_t size) {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    int ret = SSL_read_ex(ssl_, data, size, &n);
    if (ret == 1) return {Io::done, n};
    return tls_failure(ret);
  }
  boost::system::error_code ec;
  std::size_t n = socket_.read_some(boost::asio::buffer(data, size), ec);
  if (!ec) return {Io::done, n};
  return plain_failure(ec);
}

IoResult Stream::write_some(const char* data, std::size_t size) {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    int ret = SSL_write_ex(ssl_, data, size, &n);
    if (ret == 1) return {Io::done, n};
    IoResult result = tls_failure(ret);
    if (result.status == Io::eof) {
      error_ = "the peer closed the connection";
      result.status = Io::error;
    }
    return result;
  }
  boost::system::error_code ec;
  std::size_t n = socket_.write_some(boost::asio::buffer(data, size), ec);
  if (!ec) return {Io::done, n};
  IoResult result = plain_failure(ec);
  if (result.status == Io::want_read) result.status = Io::want_write;
  return result;
}

void Stream::shutdown_write() {
  if (!socket_.is_open()) return;
  if (ssl_ != nullptr) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  ::shutdown(socket_.native_handle(), SHUT_WR);
}

bool Stream::has_buffered_input() const { return ssl_ != nullptr && SSL_has_pending(ssl_) == 1; }

std::string_view Stream::server_name() const {
  const char* name = ssl_ != nullptr ? SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name) : nullptr;
  return name != nullptr ? name : std::string_view();
}

void Stream::close() {
  boost::system::error_code ec;
  socket_.close(ec);
}

}  // namespace wsproxy::network

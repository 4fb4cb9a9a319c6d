// A connected TCP socket, optionally with TLS, driven by readiness: callers
// try an operation, and only when it would block wait for the socket to
// become readable or writable. Buffers therefore belong to the caller and
// exist only while data is in flight, and plain and TLS streams share one
// code path in the proxy.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

struct ssl_st;

namespace wsproxy::network {

enum class Io {
  done,        // the operation completed (`bytes` says how much)
  want_read,   // retry once the socket is readable
  want_write,  // retry once the socket is writable
  eof,         // the peer closed its sending direction (or TLS close_notify)
  error,       // the stream failed; error_text() says why
};

struct IoResult {
  Io status;
  std::size_t bytes = 0;
};

class Stream {
 public:
  using Socket = boost::asio::ip::tcp::socket;

  // Takes a connected socket and puts it in non-blocking mode. A non-null
  // `ssl` (owned from now on) makes this a TLS stream over the socket.
  explicit Stream(Socket socket, ssl_st* ssl = nullptr);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool is_tls() const { return ssl_ != nullptr; }
  ssl_st* ssl() const { return ssl_; }
  Socket& socket() { return socket_; }

  // TLS handshake step; plain streams are done at once.
  IoResult handshake();
  IoResult read_some(char* data, std::size_t size);
  IoResult write_some(const char* data, std::size_t size);
  // Ends the sending direction (TLS close_notify, then TCP FIN); the other
  // direction stays open. Best effort: errors are ignored.
  void shutdown_write();
  // Closes the socket; pending waits complete with operation_aborted.
  void close();
  bool is_open() const { return socket_.is_open(); }

  // True if bytes already read from the socket wait to be returned (TLS
  // records decrypted or read ahead); a plain stream never has any.
  bool has_buffered_input() const;

  // The TLS server name (SNI) the client asked for; empty if none.
  std::string_view server_name() const;

  // Why the last operation returned Io::error.
  const std::string& error_text() const { return error_; }

  // Calls `handler(boost::system::error_code)` when the socket is ready for
  // what `want` (Io::want_read or Io::want_write) asks.
  template <class Handler>
  void async_wait(Io want, Handler&& handler) {
    socket_.async_wait(want == Io::want_write ? Socket::wait_write : Socket::wait_read,
                       std::forward<Handler>(handler));
  }

 private:
  IoResult tls_failure(int ret);
  IoResult plain_failure(const boost::system::error_code& ec);

  Socket socket_;
  ssl_st* ssl_;
  std::string error_;
};

}  // namespace wsproxy::network

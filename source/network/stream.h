// A connected TCP socket, optionally with TLS, driven by readiness: callers
// try an operation, and only when it would block wait for the socket to
// become readable or writable. Buffers therefore belong to the caller and
// exist only while data is in flight, and plain and TLS streams share one
// code path in the proxy. The socket is in the worker's EventLoop (joined
// once, edge-triggered), so a wait costs no system call: the stream keeps
// readiness flags that events set and would-block results clear. A read
// that returns less than asked also clears readability (the socket was
// emptied; edge-triggered epoll reports whatever comes next), so the read
// that would only say EAGAIN is never made.
//
// On a loop with an io_uring (EventLoop::ring()) a stream keeps this
// interface but its socket reads and writes (its own, and OpenSSL's and the
// record layer's under TLS) go through the ring (RingSocket): a read that
// finds nothing arms a receive and says want_read, a write is taken into
// the socket's send buffer and sent with the loop's next submission.
//
// A TLS stream whose context has enable_tls13_takeover() runs the TLS 1.3
// record layer itself once the handshake is over (Tls13RecordLayer)
// and frees OpenSSL's per-connection state at its first read or write
// after it; until then the handshake's details (peer certificate, ALPN)
// can be read through ssl(), which is null afterwards.
#pragma once

#include <sys/socket.h>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "source/network/event_loop.h"

struct ssl_st;
struct ssl_ctx_st;
struct bio_st;

namespace wsproxy::network {

// After a TLS 1.3 handshake (one of its three AEAD suites), streams over
// `ctx`, server or client, take the record layer over from OpenSSL.
void enable_tls13_takeover(ssl_ctx_st* ctx);

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

class RingSocket;

class Stream : private EventLoop::Watcher {
 public:
  using WaitHandler = std::function<void(const boost::system::error_code&)>;

  // Takes a non-blocking TCP socket with TCP_NODELAY set (owned from now
  // on; connected, or to be connected with connect()) and adds it to
  // `loop`. A non-null `ssl` (owned too) makes this a TLS stream over the
  // socket.
  Stream(EventLoop& loop, int fd, ssl_st* ssl = nullptr);

  // A stream on a new socket of `family` (AF_INET, AF_INET6), TCP_NODELAY
  // set; null with errno set if no socket can be opened or watched.
  static std::unique_ptr<Stream> open(EventLoop& loop, int family, ssl_st* ssl);
  ~Stream() override;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // False if the event loop refused the socket (error_text() says why):
  // no wait on it would ever end, so it must not be used.
  bool watched() const { return watched_; }
  bool is_tls() const { return ssl_ != nullptr || records_ != nullptr; }
  ssl_st* ssl() const { return ssl_; }
  EventLoop& loop() { return loop_; }

  // Starts connecting to `address`: Io::done, Io::want_write (wait for it,
  // then call finish_connect()), or Io::error.
  IoResult connect(const sockaddr* address, socklen_t length);
  // After the wait: Io::done once connected, else Io::error. Asks the
  // socket for its error only when the wake-up signalled one.
  IoResult finish_connect();
  // TLS handshake step; plain streams are done at once.
  IoResult handshake();
  // Io::want_read without a system call when the socket is known empty.
  IoResult read_some(char* data, std::size_t size);
  IoResult write_some(const char* data, std::size_t size);
  // Plain streams only: splice(2) up to `size` bytes from the socket into
  // the pipe whose write end is `pipe_write` (Io::eof at the end of the
  // stream), or from the pipe whose read end is `pipe_read` into the
  // socket. When splicing into it the pipe must be empty (so a would-block
  // result concerns the socket, not a full pipe); bytes in
  // has_buffered_input() must be read first; splicing from the socket
  // waits (want_read) while a ring receive is armed, and into it while
  // written bytes are still unsent.
  IoResult splice_to_pipe(int pipe_write, std::size_t size);
  IoResult splice_from_pipe(int pipe_read, std::size_t size);
  // Ends the sending direction (TLS close_notify, then TCP FIN); the other
  // direction stays open. Best effort: errors are ignored.
  void shutdown_write();
  // Closes the socket; pending waits complete with operation_aborted.
  void close();
  bool is_open() const { return fd_ >= 0; }

  // True if bytes already read from the socket wait to be returned (TLS
  // records decrypted or read ahead, or what a ring receive brought).
  bool has_buffered_input() const;
  // The TLS server name (SNI) the client asked for; empty if none.
  std::string_view server_name() const;
  // Why the last operation returned Io::error.
  const std::string& error_text() const { return error_; }

  // Calls `handler(boost::system::error_code)` once the socket is ready for
  // what `want` (Io::want_read or Io::want_write) asks, or with
  // operation_aborted if the stream is closed first. Never calls it before
  // returning.
  void async_wait(Io want, WaitHandler handler);

 private:
  // Up to two waits per kind: a TLS stream can be read by one direction of
  // the tunnel while the other's write waits for it to be readable.
  struct Waits {
    WaitHandler first, second;
    bool empty() const { return !first && !second; }
  };

  friend void enable_tls13_takeover(ssl_ctx_st* ctx);
  // What a TLS stream gathers during its handshake to take the record
  // layer over after it, and the record layer with its buffers then.
  struct Takeover;
  struct Records;

  void on_ready(uint32_t events) override;
  // OpenSSL's key log callback: the application traffic secrets.
  static void on_key_log(const ssl_st* ssl, const char* line);
  // Once the handshake is over (at the first read, write or shutdown):
  // run the record layer, or stay with OpenSSL.
  void take_over_if_due();
  IoResult read_records(char* data, std::size_t size);
  IoResult write_records(const char* data, std::size_t size);
  // Reads more of the peer's records into the input buffer.
  IoResult fill_records();
  // Sends what the socket did not take of the last sealed record.
  IoResult flush_records();
  // Ends the record layer after a bad record, with its alert; `delivered`
  // bytes read before it are still returned.
  IoResult fail_records(std::size_t delivered = 0);
  // The socket BIO under OpenSSL: recv/send on fd_, noting short reads.
  static int bio_read(bio_st* bio, char* data, int size);
  static int bio_write(bio_st* bio, const char* data, int size);
  static long bio_ctrl(bio_st* bio, int command, long number, void* pointer);
  // A read returned less than asked: the socket is empty for now.
  void emptied();
  IoResult tls_failure(int ret);
  IoResult plain_failure(int err, bool writing);
  // The socket's own bytes, for plain and TLS streams alike: recv/send on
  // the descriptor, or through the ring. As recv/send: -1 with errno set,
  // EAGAIN when it would block (a read then clears readable_).
  ssize_t socket_recv(void* data, std::size_t size);
  ssize_t socket_send(const void* data, std::size_t size);
  // Known to have nothing to read, without asking (epoll streams only: a
  // ring stream asks the ring, which arms a receive).
  bool known_empty() const;

  EventLoop& loop_;
  int fd_;
  ssl_st* ssl_;
  RingSocket* ring_ = nullptr;  // the socket on the loop's ring, if it has one
  std::unique_ptr<Takeover> takeover_;
  std::unique_ptr<Records> records_;
  bool watched_ = false;
  bool readable_ = true;  // not known to be empty: try before waiting
  bool writable_ = true;
  bool peer_closed_ = false;  // a FIN was signalled: a read will see it
  bool error_signalled_ = false;  // an event carried EPOLLERR or EPOLLHUP
  Waits read_waits_, write_waits_;
  std::string error_;
};

}  // namespace wsproxy::network

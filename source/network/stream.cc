// Readiness-driven plain and TLS streams.
#include "source/network/stream.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "source/network/tls_errors.h"

namespace wsproxy::network {

namespace {

// One BIO method for all streams: OpenSSL reads and writes the socket
// through the stream, which then knows when a read came up short.
BIO_METHOD* socket_bio_method(int (*read)(BIO*, char*, int), int (*write)(BIO*, const char*, int),
                              long (*ctrl)(BIO*, int, long, void*)) {
  static BIO_METHOD* method = [&] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsproxy stream");
    BIO_meth_set_read(m, read);
    BIO_meth_set_write(m, write);
    BIO_meth_set_ctrl(m, ctrl);
    BIO_meth_set_create(m, [](BIO* bio) {
      BIO_set_init(bio, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

}  // namespace

int Stream::bio_read(BIO* bio, char* data, int size) {
  auto* stream = static_cast<Stream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (!stream->readable_) {
    BIO_set_retry_read(bio);
    return -1;
  }
  for (;;) {
    ssize_t n = ::recv(stream->fd_, data, static_cast<size_t>(size), 0);
    if (n >= 0) {
      if (n > 0 && n < size) stream->emptied();
      return static_cast<int>(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
    return -1;
  }
}

int Stream::bio_write(BIO* bio, const char* data, int size) {
  auto* stream = static_cast<Stream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  for (;;) {
    ssize_t n = ::send(stream->fd_, data, static_cast<size_t>(size), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
    return -1;
  }
}

long Stream::bio_ctrl(BIO*, int command, long, void*) {
  // OpenSSL flushes after writing; the socket has nothing to flush.
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

Stream::Stream(EventLoop& loop, int fd, ssl_st* ssl) : loop_(loop), fd_(fd), ssl_(ssl) {
  if (ssl_ != nullptr) {
    BIO* bio = BIO_new(socket_bio_method(bio_read, bio_write, bio_ctrl));
    BIO_set_data(bio, this);
    SSL_set_bio(ssl_, bio, bio);
  }
  watched_ = loop_.add(fd_, this);
  if (!watched_) error_ = std::string("cannot watch the socket: ") + std::strerror(errno);
}

Stream::~Stream() {
  close();
  if (ssl_ != nullptr) SSL_free(ssl_);
}

IoResult Stream::tls_failure(int ret) {
  int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      readable_ = false;
      return {Io::want_read};
    case SSL_ERROR_WANT_WRITE:
      writable_ = false;
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

IoResult Stream::plain_failure(int err, bool writing) {
  if (err == EAGAIN || err == EWOULDBLOCK) {
    (writing ? writable_ : readable_) = false;
    return {writing ? Io::want_write : Io::want_read};
  }
  error_ = fd_ < 0 ? "the connection is closed" : std::strerror(err);
  return {Io::error};
}

std::unique_ptr<Stream> Stream::open(EventLoop& loop, int family, ssl_st* ssl) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int error = errno;  // the caller reports it; SSL_free may change it
    if (ssl != nullptr) SSL_free(ssl);
    errno = error;
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto stream = std::make_unique<Stream>(loop, fd, ssl);
  if (stream->watched()) return stream;
  int error = errno;  // from the refused epoll_ctl; closing may change it
  stream.reset();
  errno = error;
  return nullptr;
}

IoResult Stream::connect(const sockaddr* address, socklen_t length) {
  if (::connect(fd_, address, length) == 0) return {Io::done};
  if (errno == EINPROGRESS || errno == EINTR) {
    writable_ = false;
    return {Io::want_write};
  }
  error_ = std::strerror(errno);
  return {Io::error};
}

IoResult Stream::finish_connect() {
  // Writable without an error or hang-up: the connection is up.
  if (!error_signalled_) return {Io::done};
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error == 0) return {Io::done};
  error_ = std::strerror(error);
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
  if (!readable_) return {Io::want_read};
  for (;;) {
    ssize_t n = ::recv(fd_, data, size, 0);
    if (n > 0) {
      if (static_cast<std::size_t>(n) < size) emptied();
      return {Io::done, static_cast<std::size_t>(n)};
    }
    if (n == 0) return {Io::eof};
    if (errno != EINTR) return plain_failure(errno, false);
  }
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
  for (;;) {
    ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (n >= 0) return {Io::done, static_cast<std::size_t>(n)};
    if (errno != EINTR) return plain_failure(errno, true);
  }
}

IoResult Stream::splice_to_pipe(int pipe_write, std::size_t size) {
  if (!readable_) return {Io::want_read};
  for (;;) {
    ssize_t n = ::splice(fd_, nullptr, pipe_write, nullptr, size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    // A short splice says nothing about the socket (the pipe's slots may
    // have run out), so it does not mark the socket empty.
    if (n > 0) return {Io::done, static_cast<std::size_t>(n)};
    if (n == 0) return {Io::eof};
    if (errno != EINTR) return plain_failure(errno, false);
  }
}

IoResult Stream::splice_from_pipe(int pipe_read, std::size_t size) {
  for (;;) {
    ssize_t n = ::splice(pipe_read, nullptr, fd_, nullptr, size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0) return {Io::done, static_cast<std::size_t>(n)};
    if (errno != EINTR) return plain_failure(errno, true);
  }
}

void Stream::emptied() {
  // A FIN that came with the last bytes makes no new edge: the next read
  // must still happen to see it.
  if (!peer_closed_) readable_ = false;
}

void Stream::shutdown_write() {
  if (fd_ < 0) return;
  if (ssl_ != nullptr) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  ::shutdown(fd_, SHUT_WR);
}

void Stream::close() {
  if (fd_ < 0) return;
  loop_.forget(this);
  ::close(fd_);
  fd_ = -1;
  // As Asio does: waits still pending complete with operation_aborted,
  // later, not from inside close().
  for (Waits* waits : {&read_waits_, &write_waits_}) {
    for (WaitHandler* h : {&waits->first, &waits->second}) {
      if (*h) {
        loop_.post([handler = std::move(*h)] { handler(operation_aborted()); });
        *h = nullptr;
      }
    }
  }
}

bool Stream::has_buffered_input() const { return ssl_ != nullptr && SSL_has_pending(ssl_) == 1; }

std::string_view Stream::server_name() const {
  const char* name = ssl_ != nullptr ? SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name) : nullptr;
  return name != nullptr ? name : std::string_view();
}

void Stream::async_wait(Io want, WaitHandler handler) {
  bool reading = want != Io::want_write;
  if (fd_ < 0 || (reading ? readable_ : writable_)) {
    auto ec = fd_ < 0 ? operation_aborted() : boost::system::error_code();
    loop_.post([handler = std::move(handler), ec] { handler(ec); });
    return;
  }
  Waits& waits = reading ? read_waits_ : write_waits_;
  (waits.first ? waits.second : waits.first) = std::move(handler);
}

void Stream::on_ready(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) peer_closed_ = true;
  if (events & (EPOLLERR | EPOLLHUP)) error_signalled_ = true;
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) writable_ = true;
  // Take the handlers out first: each holds its connection alive, so this
  // stream lives until the last of them has run.
  WaitHandler ready[4];
  int count = 0;
  if (readable_) {
    ready[count++] = std::move(read_waits_.first);
    ready[count++] = std::move(read_waits_.second);
    read_waits_.first = read_waits_.second = nullptr;
  }
  if (writable_) {
    ready[count++] = std::move(write_waits_.first);
    ready[count++] = std::move(write_waits_.second);
    write_waits_.first = write_waits_.second = nullptr;
  }
  for (int i = 0; i < count; ++i) {
    // A handler that ran before may have closed the stream; the later ones
    // keep it alive, so fd_ can still be read.
    if (ready[i]) ready[i](fd_ < 0 ? operation_aborted() : boost::system::error_code());
  }
}

}  // namespace wsproxy::network

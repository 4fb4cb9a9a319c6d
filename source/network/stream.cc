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

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "source/common/hex.h"
#include "source/network/buffer_pool.h"
#include "source/network/io_ring.h"
#include "source/network/tls13_record_layer.h"
#include "source/network/tls_errors.h"

namespace wsproxy::network {

namespace {

// The type of the streams' BIOs, set when their method is made.
int socket_bio_type = 0;

// One BIO method for all streams: OpenSSL reads and writes the socket
// through the stream, which then knows when a read came up short.
BIO_METHOD* socket_bio_method(int (*read)(BIO*, char*, int), int (*write)(BIO*, const char*, int),
                              long (*ctrl)(BIO*, int, long, void*)) {
  static BIO_METHOD* method = [&] {
    socket_bio_type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
    BIO_METHOD* m = BIO_meth_new(socket_bio_type, "wsproxy stream");
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

constexpr std::size_t kHeaderSize = Tls13RecordLayer::kHeaderSize;
// Room for a record cut short by the last read and a whole one after it.
constexpr std::size_t kRecordInputSize = 2 * Tls13RecordLayer::kMaxRecord;

// Record input buffers of this thread's streams: a stream holds one only
// while it has bytes read and not yet returned.
std::vector<std::unique_ptr<unsigned char[]>>& idle_record_buffers() {
  thread_local std::vector<std::unique_ptr<unsigned char[]>> idle;
  return idle;
}

std::unique_ptr<unsigned char[]> acquire_record_buffer() {
  auto& idle = idle_record_buffers();
  if (idle.empty()) return std::unique_ptr<unsigned char[]>(new unsigned char[kRecordInputSize]);
  auto buffer = std::move(idle.back());
  idle.pop_back();
  return buffer;
}

void release_record_buffer(std::unique_ptr<unsigned char[]> buffer) {
  auto& idle = idle_record_buffers();
  if (idle.size() < 16) idle.push_back(std::move(buffer));
}

std::string from_hex(std::string_view hex) {
  std::string out;
  if (hex.size() % 2 != 0) return out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int high = common::hex_digit_value(hex[i]), low = common::hex_digit_value(hex[i + 1]);
    if (high < 0 || low < 0) return {};
    out.push_back(static_cast<char>(high << 4 | low));
  }
  return out;
}

}  // namespace

struct Stream::Takeover {
  // The peer's bytes read from the socket ahead of OpenSSL, which is
  // handed them as it asks: whatever follows the peer's Finished is then
  // still here for the record layer. Held only while not empty.
  std::unique_ptr<unsigned char[]> staged;
  std::size_t staged_at = 0, staged_end = 0;
  std::string client_secret, server_secret;
  // The records the server sent since switching to its application
  // secret (session tickets): counted by scanning the record headers of
  // what the socket took.
  unsigned char header[kHeaderSize];
  std::size_t header_have = 0, body_left = 0;
  bool counting = false;
  uint64_t records_sent = 0;
  bool handshake_done = false;
  bool declined = false;  // not TLS 1.3 or not a suite the layer has

  void scan_output(const unsigned char* data, std::size_t size) {
    while (size > 0) {
      if (body_left > 0) {
        std::size_t n = std::min(size, body_left);
        body_left -= n;
        data += n;
        size -= n;
        continue;
      }
      if (header_have == 0 && counting) ++records_sent;
      header[header_have++] = *data++;
      --size;
      if (header_have == kHeaderSize) {
        body_left = Tls13RecordLayer::body_size(header);
        header_have = 0;
      }
    }
  }

  ~Takeover() {
    if (staged) release_record_buffer(std::move(staged));
    OPENSSL_cleanse(client_secret.data(), client_secret.size());
    OPENSSL_cleanse(server_secret.data(), server_secret.size());
  }
};

struct Stream::Records {
  std::unique_ptr<Tls13RecordLayer> layer;
  std::string server_name;
  // Bytes read and not yet returned: the plaintext of a record opened in
  // place, then records not yet opened.
  std::unique_ptr<unsigned char[]> in;
  std::size_t plain_at = 0, plain_size = 0, begin = 0, end = 0;
  // What the socket did not take of the last sealed records, and how much
  // of the caller's data they carry.
  std::unique_ptr<unsigned char[]> out;
  std::size_t out_at = 0, out_end = 0, out_plain = 0;
  bool close_notify_seen = false;
  bool failed = false;

  // The body size of the next record if it is all here, else 0 (a record
  // body is never empty).
  std::size_t next_record_body() const {
    if (end - begin < kHeaderSize) return 0;
    std::size_t body = Tls13RecordLayer::body_size(in.get() + begin);
    return end - begin >= kHeaderSize + body ? body : 0;
  }
  void release_input_if_empty() {
    if (in && plain_size == 0 && begin == end) {
      release_record_buffer(std::move(in));
      begin = end = 0;
    }
  }
};

void enable_tls13_takeover(SSL_CTX* ctx) { SSL_CTX_set_keylog_callback(ctx, Stream::on_key_log); }

void Stream::on_key_log(const SSL* ssl, const char* line) {
  BIO* bio = SSL_get_rbio(ssl);
  if (bio == nullptr || BIO_method_type(bio) != socket_bio_type) return;
  auto* stream = static_cast<Stream*>(BIO_get_data(bio));
  if (stream == nullptr || !stream->takeover_) return;
  // "LABEL <client random> <secret>", all in hex.
  std::string_view text(line);
  std::size_t space = text.find(' '), last = text.rfind(' ');
  if (space == std::string_view::npos || last == space) return;
  std::string_view label = text.substr(0, space);
  Takeover& t = *stream->takeover_;
  if (label == "CLIENT_TRAFFIC_SECRET_0") {
    t.client_secret = from_hex(text.substr(last + 1));
  } else if (label == "SERVER_TRAFFIC_SECRET_0") {
    t.server_secret = from_hex(text.substr(last + 1));
    // A server logs it as it switches to it: every record it sends from
    // here on is sealed with it. (A client sends none under its own before
    // the handshake ends.)
    t.counting = SSL_is_server(ssl) == 1;
  }
}

int Stream::bio_read(BIO* bio, char* data, int size) {
  auto* stream = static_cast<Stream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (Takeover* t = stream->takeover_.get()) {
    if (t->staged_at == t->staged_end && !t->handshake_done) {
      // Read what is there into the stage; OpenSSL (read-ahead off) asks
      // for a record header, then its body.
      if (stream->known_empty()) {
        BIO_set_retry_read(bio);
        return -1;
      }
      if (!t->staged) t->staged = acquire_record_buffer();
      ssize_t n = stream->socket_recv(t->staged.get(), kRecordInputSize);
      if (n <= 0) {
        int error = errno;
        release_record_buffer(std::move(t->staged));
        if (n == 0) return 0;
        if (error == EAGAIN) BIO_set_retry_read(bio);
        errno = error;
        return -1;
      }
      t->staged_at = 0;
      t->staged_end = static_cast<std::size_t>(n);
    }
    if (t->staged_at < t->staged_end) {
      std::size_t n = std::min(static_cast<std::size_t>(size), t->staged_end - t->staged_at);
      std::memcpy(data, t->staged.get() + t->staged_at, n);
      t->staged_at += n;
      if (t->staged_at == t->staged_end) {
        release_record_buffer(std::move(t->staged));
        // Declined after the handshake: from now on OpenSSL reads the
        // socket itself.
        if (t->declined) stream->takeover_.reset();
      }
      return static_cast<int>(n);
    }
  }
  ssize_t n = stream->socket_recv(data, static_cast<std::size_t>(size));
  if (n < 0 && errno == EAGAIN) BIO_set_retry_read(bio);
  return static_cast<int>(n);
}

int Stream::bio_write(BIO* bio, const char* data, int size) {
  auto* stream = static_cast<Stream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  ssize_t n = stream->socket_send(data, static_cast<std::size_t>(size));
  if (n >= 0 && stream->takeover_) stream->takeover_->scan_output(reinterpret_cast<const unsigned char*>(data), n);
  if (n < 0 && errno == EAGAIN) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

bool Stream::known_empty() const { return ring_ == nullptr && !readable_; }

ssize_t Stream::socket_recv(void* data, std::size_t size) {
  if (ring_) {
    ssize_t n = ring_->receive(static_cast<char*>(data), size);
    if (n >= 0) return n;
    if (n == -EAGAIN) readable_ = false;
    errno = static_cast<int>(-n);
    return -1;
  }
  if (!readable_) {
    errno = EAGAIN;
    return -1;
  }
  for (;;) {
    ssize_t n = ::recv(fd_, data, size, 0);
    if (n > 0 && static_cast<std::size_t>(n) < size) emptied();
    if (n >= 0 || errno != EINTR) return n;
  }
}

ssize_t Stream::socket_send(const void* data, std::size_t size) {
  if (ring_) {
    ssize_t n = ring_->send(static_cast<const char*>(data), size);
    if (n >= 0) return n;
    errno = static_cast<int>(-n);
    return -1;
  }
  for (;;) {
    ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (n >= 0 || errno != EINTR) return n;
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
  if (loop_.ring() != nullptr) {
    // TLS reads take whole records (up to 16 KiB and a header); a plain
    // stream's reader takes 16 KiB at a time and splices larger payloads,
    // so reading more ahead would only copy what could have been spliced.
    ring_ = loop_.ring()->open_socket(fd_, this, ssl_ != nullptr ? IoRing::kBufferSize : BufferPool::kBufferSize);
    watched_ = true;
    return;
  }
  watched_ = loop_.add(fd_, this);
  if (!watched_) error_ = std::string("cannot watch the socket: ") + std::strerror(errno);
}

Stream::~Stream() {
  close();
  if (ssl_ != nullptr) SSL_free(ssl_);
}

void Stream::take_over_if_due() {
  if (!takeover_ || !takeover_->handshake_done || takeover_->declined) return;
  Takeover& t = *takeover_;
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  bool server = SSL_is_server(ssl_) == 1;
  std::unique_ptr<Tls13RecordLayer> layer;
  // Only at a record boundary on both sides, with nothing left inside
  // OpenSSL.
  if (SSL_version(ssl_) == TLS1_3_VERSION && cipher != nullptr && (t.counting || !server) && t.header_have == 0 &&
      t.body_left == 0 && SSL_has_pending(ssl_) == 0 && SSL_get_shutdown(ssl_) == 0 &&
      SSL_get_early_data_status(ssl_) != SSL_EARLY_DATA_ACCEPTED) {
    layer = Tls13RecordLayer::create(server ? Tls13RecordLayer::Side::server : Tls13RecordLayer::Side::client,
                                     SSL_CIPHER_get_protocol_id(cipher), t.client_secret, t.server_secret,
                                     t.records_sent);
  }
  if (!layer) {
    t.declined = true;
    SSL_set_read_ahead(ssl_, 1);
    if (t.staged_at == t.staged_end) takeover_.reset();
    return;
  }
  auto records = std::make_unique<Records>();
  Records& r = *records;
  r.layer = std::move(layer);
  r.server_name = server_name();
  records_ = std::move(records);
  if (t.staged_at < t.staged_end) {
    r.in = std::move(t.staged);
    r.begin = t.staged_at;
    r.end = t.staged_end;
  }
  takeover_.reset();
  // As after a clean close: OpenSSL would otherwise drop the session from
  // its cache as one that ended badly.
  SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl_);
  ssl_ = nullptr;
}

IoResult Stream::read_records(char* data, std::size_t size) {
  Records& r = *records_;
  if (r.failed) return {Io::error};
  auto* out = reinterpret_cast<unsigned char*>(data);
  std::size_t delivered = 0;
  while (delivered < size) {
    if (r.plain_size > 0) {
      std::size_t n = std::min(size - delivered, r.plain_size);
      std::memcpy(out + delivered, r.in.get() + r.plain_at, n);
      r.plain_at += n;
      r.plain_size -= n;
      delivered += n;
      continue;
    }
    if (r.close_notify_seen) break;
    if (r.end - r.begin >= kHeaderSize && !r.layer->check_header(r.in.get() + r.begin)) {
      return fail_records(delivered);
    }
    if (std::size_t body = r.next_record_body()) {
      unsigned char* record = r.in.get() + r.begin;
      // Straight into the caller's buffer when the record fits there;
      // else opened in place and returned over the next calls.
      bool direct = size - delivered >= body;
      unsigned char* to = direct ? out + delivered : record + kHeaderSize;
      Tls13RecordLayer::Opened opened = r.layer->open(record, to);
      r.begin += kHeaderSize + body;
      if (opened.content == Tls13RecordLayer::Content::failed) return fail_records(delivered);
      if (opened.content == Tls13RecordLayer::Content::close_notify) {
        r.close_notify_seen = true;
        break;
      }
      if (opened.content == Tls13RecordLayer::Content::data) {
        if (direct) {
          delivered += opened.size;
        } else {
          r.plain_at = static_cast<std::size_t>(to - r.in.get());
          r.plain_size = opened.size;
        }
      }
      continue;
    }
    // Return what is here rather than wait for more.
    if (delivered > 0) break;
    IoResult filled = fill_records();
    if (filled.status != Io::done) {
      r.release_input_if_empty();
      return filled;
    }
  }
  r.release_input_if_empty();
  if (delivered == 0 && r.close_notify_seen) return {Io::eof};
  return {Io::done, delivered};
}

IoResult Stream::fill_records() {
  Records& r = *records_;
  if (known_empty()) return {Io::want_read};
  if (!r.in) {
    r.in = acquire_record_buffer();
  } else if (r.begin > 0) {
    std::memmove(r.in.get(), r.in.get() + r.begin, r.end - r.begin);
    r.end -= r.begin;
    r.begin = 0;
  }
  std::size_t room = kRecordInputSize - r.end;
  ssize_t n = socket_recv(r.in.get() + r.end, room);
  if (n > 0) {
    r.end += static_cast<std::size_t>(n);
    return {Io::done};
  }
  if (n == 0) {
    if (r.begin == r.end) return {Io::eof};
    error_ = "the connection was closed in the middle of a TLS record";
    r.failed = true;
    return {Io::error};
  }
  IoResult failure = plain_failure(errno, false);
  if (failure.status == Io::error) r.failed = true;
  return failure;
}

IoResult Stream::write_records(const char* data, std::size_t size) {
  Records& r = *records_;
  if (r.failed) return {Io::error};
  if (r.out) {
    IoResult flushed = flush_records();
    if (flushed.status != Io::done) return flushed;
    std::size_t carried = r.out_plain;
    r.out_plain = 0;
    return {Io::done, carried};
  }
  thread_local unsigned char sealed[Tls13RecordLayer::kMaxPlaintext + Tls13RecordLayer::kSealOverhead];
  std::size_t take = std::min(size, Tls13RecordLayer::kMaxPlaintext);
  std::size_t length = r.layer->seal(data, take, sealed);
  if (length == 0) {
    r.failed = true;
    error_ = "TLS: cannot encrypt: " + take_tls_error_text();
    return {Io::error};
  }
  std::size_t sent = 0;
  while (sent < length) {
    ssize_t n = socket_send(sealed + sent, length - sent);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
    } else {
      IoResult failure = plain_failure(errno, true);
      if (failure.status == Io::error) {
        r.failed = true;
        return failure;
      }
      // The records are sealed (their sequence numbers spent): what the
      // socket did not take goes out before anything else, and the
      // caller's retry with the same bytes then learns they are sent.
      r.out = std::unique_ptr<unsigned char[]>(new unsigned char[length - sent]);
      std::memcpy(r.out.get(), sealed + sent, length - sent);
      r.out_at = 0;
      r.out_end = length - sent;
      r.out_plain = take;
      return failure;
    }
  }
  return {Io::done, take};
}

IoResult Stream::flush_records() {
  Records& r = *records_;
  while (r.out_at < r.out_end) {
    ssize_t n = socket_send(r.out.get() + r.out_at, r.out_end - r.out_at);
    if (n >= 0) {
      r.out_at += static_cast<std::size_t>(n);
      continue;
    }
    IoResult failure = plain_failure(errno, true);
    if (failure.status == Io::error) r.failed = true;
    return failure;
  }
  r.out.reset();
  return {Io::done};
}

IoResult Stream::fail_records(std::size_t delivered) {
  Records& r = *records_;
  r.failed = true;
  error_ = "TLS: " + r.layer->failure();
  if (!r.out) {
    unsigned char alert[Tls13RecordLayer::kSealOverhead];
    std::size_t n = r.layer->seal_failure_alert(alert);
    if (n > 0) socket_send(alert, n);  // best effort: the connection ends
  }
  // What came before the bad record is the peer's: returned now, the
  // error with the next call.
  if (delivered > 0) return {Io::done, delivered};
  return {Io::error};
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
    if (ring_ && !ring_->poll(EPOLLOUT)) {
      error_ = "cannot wait for the connection: the io_uring is full";
      return {Io::error};
    }
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
  if (!takeover_ && SSL_in_before(ssl_) && SSL_CTX_get_keylog_callback(SSL_get_SSL_CTX(ssl_)) == on_key_log) {
    takeover_ = std::make_unique<Takeover>();
    // OpenSSL must read no further than the peer's Finished.
    SSL_set_read_ahead(ssl_, 0);
  }
  ERR_clear_error();
  errno = 0;
  int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    if (takeover_) takeover_->handshake_done = true;
    return {Io::done};
  }
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
  take_over_if_due();
  if (records_) return read_records(data, size);
  if (ssl_ != nullptr) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    int ret = SSL_read_ex(ssl_, data, size, &n);
    if (ret == 1) return {Io::done, n};
    return tls_failure(ret);
  }
  ssize_t n = socket_recv(data, size);
  if (n > 0) return {Io::done, static_cast<std::size_t>(n)};
  if (n == 0) return {Io::eof};
  return plain_failure(errno, false);
}

IoResult Stream::write_some(const char* data, std::size_t size) {
  take_over_if_due();
  if (records_) return write_records(data, size);
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
  ssize_t n = socket_send(data, size);
  if (n >= 0) return {Io::done, static_cast<std::size_t>(n)};
  return plain_failure(errno, true);
}

IoResult Stream::splice_to_pipe(int pipe_write, std::size_t size) {
  if (ring_ && ring_->receiving()) {
    // The receive is stopped first; what it still brings is read before
    // anything is spliced, and its last completion wakes the reader.
    ring_->stop_receiving();
    readable_ = false;
    return {Io::want_read};
  }
  if (!readable_) return {Io::want_read};
  for (;;) {
    ssize_t n = ::splice(fd_, nullptr, pipe_write, nullptr, size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    // A short splice says nothing about the socket (the pipe's slots may
    // have run out), so it does not mark the socket empty.
    if (n > 0) return {Io::done, static_cast<std::size_t>(n)};
    if (n == 0) return {Io::eof};
    if (errno != EINTR) {
      if (ring_ && errno == EAGAIN && !ring_->poll(EPOLLIN)) return plain_failure(EBUSY, false);
      return plain_failure(errno, false);
    }
  }
}

IoResult Stream::splice_from_pipe(int pipe_read, std::size_t size) {
  if (ring_ && ring_->output_pending()) {
    writable_ = false;
    ring_->wait_drained();
    return {Io::want_write};
  }
  for (;;) {
    ssize_t n = ::splice(pipe_read, nullptr, fd_, nullptr, size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0) return {Io::done, static_cast<std::size_t>(n)};
    if (errno != EINTR) {
      if (ring_ && errno == EAGAIN && !ring_->poll(EPOLLOUT)) return plain_failure(EBUSY, true);
      return plain_failure(errno, true);
    }
  }
}

void Stream::emptied() {
  // A FIN that came with the last bytes makes no new edge: the next read
  // must still happen to see it.
  if (!peer_closed_) readable_ = false;
}

void Stream::shutdown_write() {
  if (fd_ < 0) return;
  take_over_if_due();
  if (records_) {
    Records& r = *records_;
    if (r.out) flush_records();
    if (!r.out && !r.failed) {
      unsigned char alert[Tls13RecordLayer::kSealOverhead];
      std::size_t n = r.layer->seal_close_notify(alert);
      if (n > 0) socket_send(alert, n);
    }
  } else if (ssl_ != nullptr) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  if (ring_) return ring_->shutdown_write();  // after what is still being sent
  ::shutdown(fd_, SHUT_WR);
}

void Stream::close() {
  if (fd_ < 0) return;
  if (ring_) {
    ring_->close();
    ring_ = nullptr;
  } else {
    loop_.forget(this);
    ::close(fd_);
  }
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

bool Stream::has_buffered_input() const {
  if (ring_ && ring_->has_input()) return true;
  if (records_) return records_->plain_size > 0 || records_->next_record_body() > 0;
  return ssl_ != nullptr && SSL_has_pending(ssl_) == 1;
}

std::string_view Stream::server_name() const {
  if (records_) return records_->server_name;
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

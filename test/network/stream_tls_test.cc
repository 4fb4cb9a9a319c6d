// Server TLS streams whose context has enable_tls13_takeover(): after
// OpenSSL's TLS 1.3 handshake the stream runs the record layer itself. The
// peer is OpenSSL's own client, blocking on a thread of its own, over a
// socket pair. Covered: echoes of every size around a record, each cipher
// suite, client data that comes in with the client's Finished, records read
// in pieces, key updates, close_notify both ways, forged and oversized
// records (and the alerts they draw), a full socket, session resumption,
// and TLS 1.2 (left to OpenSSL). The suite runs twice (BUILD): with the
// streams' sockets on the loop's io_uring, and with STREAM_TEST_LOOP=epoll
// on epoll alone.
#include "source/network/stream.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace wsproxy::network {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// The longest any one step may take before the test gives up: ample for a
// sanitizer build on a busy machine.
constexpr milliseconds kPatience{15000};
// The client writes a window, then reads its echo: what is in flight must
// fit the socket buffers, or both sides would wait for each other.
constexpr std::size_t kEchoWindow = 32 * 1024;
// Smaller than a record: the server reads records in pieces.
constexpr std::size_t kSmallReads = 4096;
constexpr std::size_t kLargeReads = 64 * 1024;
constexpr std::size_t kMaxRecordBody = 16384 + 256;

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (char& byte : bytes) byte = static_cast<char>(random());
  return bytes;
}

// A TLS 1.3 application-data record header announcing `body_size` bytes.
std::string record_header(std::size_t body_size) {
  return {'\x17', '\x03', '\x03', static_cast<char>(body_size >> 8), static_cast<char>(body_size & 0xff)};
}

// Drains this thread's OpenSSL error queue.
std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

testing::AssertionResult same_bytes(const std::string& expected, const std::string& actual) {
  if (expected == actual) return testing::AssertionSuccess();
  std::size_t common = std::min(expected.size(), actual.size());
  std::size_t at = std::mismatch(expected.begin(), expected.begin() + common, actual.begin()).first - expected.begin();
  return testing::AssertionFailure() << "expected " << expected.size() << " bytes, got " << actual.size()
                                     << ", first difference at byte " << at;
}

// Polls `condition` every millisecond, for `limit` at most.
bool wait_until(const std::function<bool()>& condition, milliseconds limit = kPatience) {
  auto deadline = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// A self-signed P-256 certificate, in a context set up as the proxy sets
// up its server contexts (tls_common.cc, tls_server_context.cc): read-ahead
// in particular, so OpenSSL may hold client records the stream must take
// over with its keys.
SSL_CTX* make_server_context(bool takeover = true) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  bool ok = key != nullptr && cert != nullptr && ctx != nullptr;
  if (ok) {
    X509_set_version(cert, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    ok = X509_set_pubkey(cert, key) == 1 && X509_sign(cert, key, EVP_sha256()) > 0 &&
         SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
         SSL_CTX_check_private_key(ctx) == 1;
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) {
    ADD_FAILURE() << "cannot make the server context: " << openssl_errors();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_num_tickets(ctx, 1);
  static const unsigned char kSessionContext[] = "stream_tls_test";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  if (takeover) enable_tls13_takeover(ctx);
  return ctx;
}

// Each SSL takes the side its context's method gives it: a stream or a
// peer made with a client context is the TLS client.
SSL* in_its_role(SSL* ssl) {
  if (SSL_is_server(ssl) == 1) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  return ssl;
}

// The stream under test, on the server end, stepped by the loop: it
// handshakes, then echoes what it reads, or sends given bytes, or stops.
bool on_io_uring() {
  const char* loop = std::getenv("STREAM_TEST_LOOP");
  return loop == nullptr || std::string(loop) != "epoll";
}

class Server {
 public:
  Server(EventLoop& loop, SSL_CTX* ctx, int fd) : stream_(loop, fd, in_its_role(SSL_new(ctx))) {}

  // Sends back whatever it reads, reading `read_size` bytes at most at once.
  void echo(std::size_t read_size) {
    echoing_ = true;
    buffer_.resize(read_size);
    step();
  }
  void send(std::string data) {
    outgoing_ = std::move(data);
    step();
  }
  // Only the handshake: the test then uses the stream itself.
  void handshake() { step(); }
  // Stops the handshake once the server's Finished is out, until resume().
  void pause_after_own_finished() { pause_ = true; }
  void resume() {
    pause_ = false;
    if (paused_) {
      paused_ = false;
      step();
    }
  }

  Stream& stream() { return stream_; }
  bool handshake_done() const { return handshake_done_; }
  bool paused() const { return paused_; }
  bool eof() const { return eof_; }
  bool sent_all() const { return handshake_done_ && sent_ == outgoing_.size(); }
  std::size_t echoed() const { return echoed_; }
  // Read from the client thread too.
  int want_writes() const { return want_writes_; }
  const std::string& error() const { return error_; }

 private:
  bool sent_own_finished() {
    unsigned char finished[64];
    return SSL_get_finished(stream_.ssl(), finished, sizeof(finished)) > 0;
  }

  void step() {
    int idle = 0;
    for (;;) {
      IoResult r;
      if (!handshake_done_) {
        r = stream_.handshake();
        if (r.status == Io::done) {
          handshake_done_ = true;
          continue;
        }
        if (pause_ && r.status == Io::want_read && sent_own_finished()) {
          paused_ = true;
          return;
        }
      } else if (sent_ < outgoing_.size()) {
        // After a want_write, the same bytes again.
        r = stream_.write_some(outgoing_.data() + sent_, outgoing_.size() - sent_);
        if (r.status == Io::done) {
          sent_ += r.bytes;
          if (echoing_ && sent_ == outgoing_.size()) {
            outgoing_.clear();
            sent_ = 0;
          }
        }
      } else if (echoing_) {
        r = stream_.read_some(buffer_.data(), buffer_.size());
        if (r.status == Io::done) {
          outgoing_.append(buffer_.data(), r.bytes);
          echoed_ += r.bytes;
        }
      } else {
        return;
      }
      switch (r.status) {
        case Io::done:
          // Bounded, should the stream keep saying done without moving a byte.
          idle = r.bytes > 0 ? 0 : idle + 1;
          if (idle == 1000) {
            error_ = "1000 operations in a row were done with no bytes";
            return;
          }
          continue;
        case Io::want_write:
          ++want_writes_;
          [[fallthrough]];
        case Io::want_read:
          stream_.async_wait(r.status, [this](const boost::system::error_code& ec) {
            if (!ec) step();
          });
          return;
        case Io::eof:
          eof_ = true;
          return;
        case Io::error:
          error_ = stream_.error_text();
          return;
      }
    }
  }

  Stream stream_;
  bool echoing_ = false;
  bool pause_ = false;
  bool paused_ = false;
  bool handshake_done_ = false;
  bool eof_ = false;
  std::vector<char> buffer_;
  std::string outgoing_;
  std::size_t sent_ = 0;
  std::size_t echoed_ = 0;
  std::atomic<int> want_writes_{0};
  std::string error_;
};

// The peer: OpenSSL's client on the other end, blocking, on a thread of its
// own. Socket timeouts bound each call, so a server that stops answering
// fails the test instead of hanging it.
class Client {
 public:
  Client(SSL_CTX* ctx, int fd) : fd_(fd), ssl_(SSL_new(ctx)) {
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    timeval limit{static_cast<time_t>(kPatience.count() / 1000), 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    SSL_set_fd(ssl_, fd_);
    in_its_role(ssl_);
  }
  ~Client() {
    join();
    SSL_free(ssl_);
    ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs `script` on the client thread.
  void start(std::function<void(Client&)> script) {
    thread_ = std::thread([this, script = std::move(script)] {
      script(*this);
      finished_ = true;
    });
  }
  bool finished() const { return finished_; }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  SSL* ssl() const { return ssl_; }

  bool handshake() {
    ERR_clear_error();
    int ret = SSL_do_handshake(ssl_);
    if (ret == 1) return true;
    ADD_FAILURE() << "client handshake: " << failure(ret);
    return false;
  }

  bool write(const std::string& data) {
    ERR_clear_error();
    std::size_t written = 0;
    int ret = SSL_write_ex(ssl_, data.data(), data.size(), &written);
    if (ret == 1 && written == data.size()) return true;
    ADD_FAILURE() << "client wrote " << written << " of " << data.size() << " bytes: " << failure(ret);
    return false;
  }

  // `size` bytes, or those that came before a failure (reported).
  std::string read(std::size_t size) {
    std::string data(size, '\0');
    std::size_t got = 0;
    while (got < size) {
      ERR_clear_error();
      std::size_t n = 0;
      int ret = SSL_read_ex(ssl_, &data[got], size - got, &n);
      if (ret != 1) {
        ADD_FAILURE() << "client read " << got << " of " << size << " bytes: " << failure(ret);
        break;
      }
      got += n;
    }
    data.resize(got);
    return data;
  }

  bool echo(const std::string& payload) {
    for (std::size_t at = 0; at < payload.size(); at += kEchoWindow) {
      std::string piece = payload.substr(at, kEchoWindow);
      if (!write(piece)) return false;
      testing::AssertionResult same = same_bytes(piece, read(piece.size()));
      if (!same) {
        ADD_FAILURE() << "echo of the " << payload.size() << " bytes from byte " << at << ": " << same.message();
        return false;
      }
    }
    return true;
  }

  // One byte, one more than a record holds, and many records' worth.
  bool echo_sizes_around_a_record(unsigned seed) {
    for (std::size_t size : {1, 16385, 100000}) {
      SCOPED_TRACE(std::to_string(size) + " bytes");
      if (!echo(random_bytes(size, ++seed))) return false;
    }
    return true;
  }

  // Straight onto the socket, past TLS.
  bool send_raw(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ADD_FAILURE() << "raw send: " << std::strerror(errno);
        return false;
      }
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads once more, expecting the stream to fail with a fatal alert from
  // the server; returns OpenSSL's error text for it.
  std::string read_alert() {
    ERR_clear_error();
    char byte;
    int ret = SSL_read(ssl_, &byte, 1);
    EXPECT_LE(ret, 0) << "the client read a byte after the bad record";
    int error = SSL_get_error(ssl_, ret);
    std::string text = openssl_errors();
    EXPECT_EQ(error, SSL_ERROR_SSL) << text;
    return text;
  }

 private:
  std::string failure(int ret) {
    int saved_errno = errno;
    int error = SSL_get_error(ssl_, ret);
    std::string text = "SSL_get_error " + std::to_string(error);
    std::string errors = openssl_errors();
    if (!errors.empty()) text += ", " + errors;
    if (error == SSL_ERROR_SYSCALL && saved_errno != 0) text += std::string(", ") + std::strerror(saved_errno);
    return text;
  }

  int fd_;
  SSL* ssl_;
  std::thread thread_;
  std::atomic<bool> finished_{false};
};

std::array<int, 2> socket_pair() {
  std::array<int, 2> fds{-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()) != 0) {
    ADD_FAILURE() << "socketpair: " << std::strerror(errno);
  }
  return fds;
}

// One connection over a socket pair: the stream under test on the server
// end, OpenSSL's client on the other.
struct Connection {
  Connection(SSL_CTX* server_ctx, SSL_CTX* client_ctx)
      : fds(socket_pair()), server(loop, server_ctx, fds[0]), client(client_ctx, fds[1]) {}
  // Closing the server end first ends a read the client still waits in.
  ~Connection() {
    server.stream().close();
    client.join();
  }

  // Runs the loop until `done()` holds, checking each millisecond; after
  // `limit`, closes the server end (ending whatever it was doing) and
  // returns false.
  bool drive_until(const std::function<bool()>& done, milliseconds limit = kPatience) {
    auto deadline = Clock::now() + limit;
    bool timed_out = false;
    Timer tick(loop);
    std::function<void(const boost::system::error_code&)> check = [&](const boost::system::error_code& ec) {
      if (ec || done()) return;
      if (Clock::now() >= deadline) {
        timed_out = true;
        server.stream().close();
        return;
      }
      tick.expires_after(milliseconds(1));
      tick.async_wait(check);
    };
    check({});
    loop.finish();
    loop.run();
    return !timed_out;
  }

  std::array<int, 2> fds;
  EventLoop loop{on_io_uring()};
  Server server;
  Client client;
};

class StreamTlsTest : public testing::Test {
 protected:
  // The client writes into sockets the server end may have closed.
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }

  void SetUp() override {
    EventLoop probe(on_io_uring());
    ASSERT_EQ(probe.ring() != nullptr, on_io_uring()) << "the loop is not on the backend this run is for";
    server_ctx_ = make_server_context();
    ASSERT_NE(server_ctx_, nullptr);
    client_ctx_ = SSL_CTX_new(TLS_client_method());
    ASSERT_NE(client_ctx_, nullptr);
  }
  void TearDown() override {
    SSL_CTX_free(server_ctx_);
    SSL_CTX_free(client_ctx_);
  }

  // After an echo (so the record layer has taken over), the client sends
  // `raw` straight onto the socket: the server must fail with an error
  // containing `server_error`, and the client then read the alert
  // `client_alert` ("alert ...": received, not its own error).
  void expect_refused(const std::string& raw, const std::string& server_error, const std::string& client_alert) {
    std::string alert;
    Connection c(server_ctx_, client_ctx_);
    c.server.echo(kSmallReads);
    c.client.start([&alert, &raw](Client& client) {
      if (!client.handshake() || !client.echo("before the bad record") || !client.send_raw(raw)) return;
      alert = client.read_alert();
    });
    ASSERT_TRUE(c.drive_until([&] { return c.client.finished() && !c.server.error().empty(); }));
    c.client.join();
    EXPECT_NE(c.server.error().find(server_error), std::string::npos) << c.server.error();
    EXPECT_NE(alert.find(client_alert), std::string::npos) << alert;
  }

  SSL_CTX* server_ctx_ = nullptr;
  SSL_CTX* client_ctx_ = nullptr;
};

TEST_F(StreamTlsTest, EchoesEverySizeAroundARecord) {
  Connection c(server_ctx_, client_ctx_);
  ASSERT_TRUE(c.server.stream().watched());
  c.server.echo(kSmallReads);
  c.client.start([](Client& client) {
    if (!client.handshake()) return;
    EXPECT_EQ(SSL_version(client.ssl()), TLS1_3_VERSION);
    unsigned seed = 0;
    for (std::size_t size : {1, 1000, 16384, 16385, 300000}) {
      SCOPED_TRACE(std::to_string(size) + " bytes");
      if (!client.echo(random_bytes(size, ++seed))) return;
    }
  });
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished(); }));
  EXPECT_EQ(c.server.error(), "");
  EXPECT_EQ(c.server.echoed(), 1u + 1000 + 16384 + 16385 + 300000);
  EXPECT_TRUE(c.server.stream().is_tls());
  // Taken over: OpenSSL's per-connection state is gone.
  EXPECT_EQ(c.server.stream().ssl(), nullptr);
}

class StreamTlsSuiteTest : public StreamTlsTest, public testing::WithParamInterface<const char*> {};

TEST_P(StreamTlsSuiteTest, EchoesUnderTheSuite) {
  Connection c(server_ctx_, client_ctx_);
  c.server.echo(kLargeReads);
  std::string suite = GetParam();
  c.client.start([suite](Client& client) {
    ASSERT_EQ(SSL_set_ciphersuites(client.ssl(), suite.c_str()), 1);
    if (!client.handshake()) return;
    EXPECT_EQ(SSL_CIPHER_get_name(SSL_get_current_cipher(client.ssl())), suite);
    client.echo_sizes_around_a_record(0);
  });
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished(); }));
  EXPECT_EQ(c.server.error(), "");
  EXPECT_EQ(c.server.stream().ssl(), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Tls13Suites, StreamTlsSuiteTest,
                         testing::Values("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                         "TLS_CHACHA20_POLY1305_SHA256"),
                         [](const testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

// With read-ahead, OpenSSL reads the client's first records along with its
// Finished; the stream must take them over, or wait for ever for bytes it
// already has. The server is held after its own Finished until the client
// has sent both, so they arrive together.
TEST_F(StreamTlsTest, DataThatArrivesWithTheClientFinishedIsNotLost) {
  std::atomic<bool> client_wrote{false};
  Connection c(server_ctx_, client_ctx_);
  c.server.pause_after_own_finished();
  c.server.echo(kSmallReads);
  std::string payload = random_bytes(3000, 1);
  c.client.start([&client_wrote, payload](Client& client) {
    if (!client.handshake() || !client.write(payload)) return;
    client_wrote = true;
    EXPECT_TRUE(same_bytes(payload, client.read(payload.size())));
  });
  // Done without pausing only if the client's Finished raced in before the
  // server had looked for it: the test then covers less, but still passes.
  ASSERT_TRUE(c.drive_until([&] { return c.server.paused() || c.server.handshake_done(); }));
  ASSERT_TRUE(wait_until([&] { return client_wrote.load(); }));
  c.server.resume();
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished(); }));
  EXPECT_EQ(c.server.error(), "");
  EXPECT_EQ(c.server.echoed(), payload.size());
  EXPECT_EQ(c.server.stream().ssl(), nullptr);  // taken over, not left to OpenSSL
}

// The rest of a record read in part waits in the stream, where the
// proxy's has_buffered_input() loop and a readiness wait could not see it
// in the socket: it comes without waiting.
TEST_F(StreamTlsTest, TheRestOfARecordReadInPartComesWithoutWaiting) {
  Connection c(server_ctx_, client_ctx_);
  c.server.handshake();
  std::string record = random_bytes(10000, 2);  // one record: under 16384
  c.client.start([record](Client& client) {
    if (client.handshake()) client.write(record);
  });
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished() && c.server.handshake_done(); }));
  ASSERT_EQ(c.server.error(), "");

  std::string received(record.size(), '\0');
  IoResult first;
  ASSERT_TRUE(c.drive_until([&] {
    first = c.server.stream().read_some(&received[0], 100);
    return first.status != Io::want_read;
  }));
  ASSERT_EQ(first.status, Io::done) << c.server.stream().error_text();
  ASSERT_GT(first.bytes, 0u);
  ASSERT_LT(first.bytes, record.size());
  EXPECT_TRUE(c.server.stream().has_buffered_input());
  std::size_t got = first.bytes;
  while (got < record.size()) {
    IoResult r = c.server.stream().read_some(&received[got], record.size() - got);
    ASSERT_EQ(r.status, Io::done) << "after " << got << " bytes; " << c.server.stream().error_text();
    ASSERT_GT(r.bytes, 0u);
    got += r.bytes;
  }
  EXPECT_TRUE(same_bytes(record, received));
  EXPECT_FALSE(c.server.stream().has_buffered_input());
}

// Each KeyUpdate the client receives, by its request_update byte.
void note_key_update(int write_p, int, int content_type, const void* buf, size_t len, SSL*, void* arg) {
  const auto* message = static_cast<const unsigned char*>(buf);
  if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len >= 5 && message[0] == SSL3_MT_KEY_UPDATE) {
    static_cast<std::vector<int>*>(arg)->push_back(message[4]);
  }
}

// An update the client asks to be answered must be (a KeyUpdate of the
// server's own, not asking back) before the server writes again, and the
// server's records must then use its next keys; one not to be answered
// changes only the keys the server reads with.
TEST_F(StreamTlsTest, KeyUpdatesAreFollowedAndAnsweredWhenAsked) {
  std::vector<int> server_updates;
  Connection c(server_ctx_, client_ctx_);
  c.server.echo(kSmallReads);
  c.client.start([&server_updates](Client& client) {
    SSL_set_msg_callback(client.ssl(), note_key_update);
    SSL_set_msg_callback_arg(client.ssl(), &server_updates);
    if (!client.handshake()) return;
    const int kRounds[] = {SSL_KEY_UPDATE_REQUESTED,     SSL_KEY_UPDATE_REQUESTED,     SSL_KEY_UPDATE_NOT_REQUESTED,
                           SSL_KEY_UPDATE_REQUESTED,     SSL_KEY_UPDATE_NOT_REQUESTED, SSL_KEY_UPDATE_NOT_REQUESTED,
                           SSL_KEY_UPDATE_REQUESTED};
    std::size_t asked = 0;
    unsigned round = 0;
    for (int update : kRounds) {
      SCOPED_TRACE("round " + std::to_string(++round));
      // Sent with the next write, ahead of its data.
      ASSERT_EQ(SSL_key_update(client.ssl(), update), 1);
      if (update == SSL_KEY_UPDATE_REQUESTED) ++asked;
      if (!client.echo(random_bytes(20000, round))) return;
      EXPECT_EQ(server_updates.size(), asked);
    }
    EXPECT_EQ(server_updates, std::vector<int>(asked, SSL_KEY_UPDATE_NOT_REQUESTED));
  });
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished(); }));
  EXPECT_EQ(c.server.error(), "");
}

// The client's close_notify ends what the server reads, after the data
// sent just before it; the server's then ends what the client reads.
TEST_F(StreamTlsTest, CloseNotifyEndsEachDirection) {
  Connection c(server_ctx_, client_ctx_);
  c.server.echo(kSmallReads);
  c.client.start([](Client& client) {
    if (!client.handshake() || !client.echo("hello")) return;
    if (!client.write("last words")) return;
    EXPECT_EQ(SSL_shutdown(client.ssl()), 0);  // sent; the server's not yet come
    EXPECT_EQ(client.read(10), "last words");
    ERR_clear_error();
    char byte;
    int ret = SSL_read(client.ssl(), &byte, 1);
    EXPECT_LE(ret, 0);
    EXPECT_EQ(SSL_get_error(client.ssl(), ret), SSL_ERROR_ZERO_RETURN) << openssl_errors();
  });
  ASSERT_TRUE(c.drive_until([&] { return c.server.eof() || !c.server.error().empty(); }));
  EXPECT_TRUE(c.server.eof()) << c.server.error();
  EXPECT_EQ(c.server.echoed(), 5u + 10);
  c.server.stream().shutdown_write();
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished(); }));
}

// A close_notify as the stream's first record after the handshake (its
// first use takes the record layer over) comes after the session ticket,
// sealed under the same keys.
TEST_F(StreamTlsTest, ShuttingDownRightAfterTheHandshakeSendsCloseNotify) {
  Connection c(server_ctx_, client_ctx_);
  c.server.handshake();
  c.client.start([](Client& client) {
    if (!client.handshake()) return;
    ERR_clear_error();
    char byte;
    int ret = SSL_read(client.ssl(), &byte, 1);
    EXPECT_LE(ret, 0);
    EXPECT_EQ(SSL_get_error(client.ssl(), ret), SSL_ERROR_ZERO_RETURN) << openssl_errors();
  });
  ASSERT_TRUE(c.drive_until([&] { return c.server.handshake_done() || !c.server.error().empty(); }));
  ASSERT_EQ(c.server.error(), "");
  c.server.stream().shutdown_write();
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished(); }));
}

// A record that fails authentication ends the stream with bad_record_mac,
// sent to the client as a fatal alert it can read (sealed under the
// server's keys: a plaintext or wrongly sealed one would fail otherwise).
TEST_F(StreamTlsTest, AForgedRecordFailsWithBadRecordMac) {
  // "sslv3 alert bad record mac", not the client's own "decryption failed
  // or bad record mac".
  expect_refused(record_header(40) + random_bytes(40, 3), "bad record mac", "alert bad record mac");
}

// A record too short to hold a tag is refused as soon as its header is in.
TEST_F(StreamTlsTest, AnEmptyRecordFailsWithBadRecordMac) {
  expect_refused(record_header(0), "bad record mac", "alert bad record mac");
}

// Records that carry no data (here KeyUpdates) are allowed 32 in a row,
// as OpenSSL and BoringSSL allow; a client sending more is only making the
// server work, and is refused.
TEST_F(StreamTlsTest, RecordsWithoutDataAreAllowed32InARow) {
  std::string alert;
  Connection c(server_ctx_, client_ctx_);
  c.server.echo(kSmallReads);
  c.client.start([&alert](Client& client) {
    auto key_updates = [&client](int count) {
      for (int i = 0; i < count; ++i) {
        // SSL_do_handshake sends the KeyUpdate now, in a record of its own.
        if (SSL_key_update(client.ssl(), SSL_KEY_UPDATE_NOT_REQUESTED) != 1 || SSL_do_handshake(client.ssl()) != 1) {
          ADD_FAILURE() << "key update " << i << ": " << openssl_errors();
          return false;
        }
      }
      return true;
    };
    if (!client.handshake() || !key_updates(32) || !client.echo("after 32")) return;
    if (!key_updates(33)) return;
    alert = client.read_alert();
  });
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished() && !c.server.error().empty(); }));
  c.client.join();
  EXPECT_EQ(c.server.echoed(), std::string("after 32").size());
  EXPECT_NE(c.server.error().find("32 records in a row without data"), std::string::npos) << c.server.error();
  EXPECT_NE(alert.find("alert unexpected message"), std::string::npos) << alert;
}

// A record longer than TLS 1.3 allows (2^14 + 256 bytes of body) ends the
// stream with record_overflow; the whole body is sent, so a stream that
// waits for it before looking at the length still answers.
TEST_F(StreamTlsTest, AnOversizedRecordFailsWithRecordOverflow) {
  constexpr std::size_t kTooLong = kMaxRecordBody + 1;
  expect_refused(record_header(kTooLong) + random_bytes(kTooLong, 4), "record overflow", "alert record overflow");
}

// Writes that fill the socket wait and resume with the same bytes; the
// client starts reading only once the server has had to wait.
TEST_F(StreamTlsTest, WritesThatFillTheSocketWaitAndLoseNothing) {
  constexpr std::size_t kTotal = 4 * 1024 * 1024;
  static constexpr std::size_t kClientReads = 1000;
  Connection c(server_ctx_, client_ctx_);
  int small = 4096;
  ASSERT_EQ(setsockopt(c.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  ASSERT_EQ(setsockopt(c.fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  std::string data = random_bytes(kTotal, 5);
  c.server.send(data);
  const Server& server = c.server;
  c.client.start([&server, data](Client& client) {
    if (!client.handshake()) return;
    ASSERT_TRUE(wait_until([&] { return server.want_writes() > 0; })) << "the server never had to wait";
    std::string received;
    while (received.size() < data.size()) {
      std::size_t asked = std::min(kClientReads, data.size() - received.size());
      std::string piece = client.read(asked);
      received += piece;
      if (piece.size() < asked) break;
    }
    EXPECT_TRUE(same_bytes(data, received));
  });
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished(); }));
  EXPECT_EQ(c.server.error(), "");
  EXPECT_TRUE(c.server.sent_all());
  EXPECT_GT(c.server.want_writes(), 0);
}

TEST_F(StreamTlsTest, ATicketFromOneConnectionResumesTheNext) {
  std::unique_ptr<SSL_SESSION, decltype(&SSL_SESSION_free)> session(nullptr, SSL_SESSION_free);
  {
    Connection first(server_ctx_, client_ctx_);
    first.server.echo(kSmallReads);
    first.client.start([&session](Client& client) {
      if (!client.handshake()) return;
      EXPECT_EQ(SSL_session_reused(client.ssl()), 0);
      // The ticket comes before the echo, so reading the echo takes it in.
      if (!client.echo("a ticket, please")) return;
      session.reset(SSL_get1_session(client.ssl()));
      // Without close_notify, SSL_free marks the session unresumable.
      EXPECT_EQ(SSL_shutdown(client.ssl()), 0);
    });
    ASSERT_TRUE(first.drive_until([&] { return first.client.finished(); }));
    EXPECT_EQ(first.server.error(), "");
  }
  ASSERT_NE(session, nullptr);
  ASSERT_TRUE(SSL_SESSION_is_resumable(session.get()));

  Connection second(server_ctx_, client_ctx_);
  second.server.echo(kSmallReads);
  SSL_SESSION* ticket = session.get();
  second.client.start([ticket](Client& client) {
    ASSERT_EQ(SSL_set_session(client.ssl(), ticket), 1);
    if (!client.handshake()) return;
    EXPECT_EQ(SSL_version(client.ssl()), TLS1_3_VERSION);
    EXPECT_EQ(SSL_session_reused(client.ssl()), 1);
    client.echo(random_bytes(20000, 6));
  });
  ASSERT_TRUE(second.drive_until([&] { return second.client.finished(); }));
  EXPECT_EQ(second.server.error(), "");
  EXPECT_EQ(second.server.echoed(), 20000u);
  EXPECT_EQ(second.server.stream().ssl(), nullptr);
}

// The stream as the TLS client (wsproxy's upstream side) takes over too:
// it skips the session tickets OpenSSL's server sends (two, by default),
// follows and answers key updates, and echoes every size.
TEST_F(StreamTlsTest, AClientStreamTakesOverToo) {
  SSL_CTX* stream_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX* peer_ctx = make_server_context(/*takeover=*/false);
  ASSERT_NE(stream_ctx, nullptr);
  ASSERT_NE(peer_ctx, nullptr);
  SSL_CTX_set_read_ahead(stream_ctx, 1);
  enable_tls13_takeover(stream_ctx);
  SSL_CTX_set_num_tickets(peer_ctx, 2);
  SSL_CTX_clear_mode(peer_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);  // the peer writes whole pieces
  std::vector<int> stream_updates;
  {
    Connection c(stream_ctx, peer_ctx);
    c.server.echo(kSmallReads);
    c.client.start([&stream_updates](Client& peer) {
      SSL_set_msg_callback(peer.ssl(), note_key_update);
      SSL_set_msg_callback_arg(peer.ssl(), &stream_updates);
      if (!peer.handshake()) return;
      EXPECT_EQ(SSL_version(peer.ssl()), TLS1_3_VERSION);
      unsigned seed = 20;
      for (std::size_t size : {1, 16385, 100000}) {
        SCOPED_TRACE(std::to_string(size) + " bytes");
        ASSERT_EQ(SSL_key_update(peer.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
        if (!peer.echo(random_bytes(size, ++seed))) return;
      }
      EXPECT_EQ(stream_updates, std::vector<int>(3, SSL_KEY_UPDATE_NOT_REQUESTED));
    });
    ASSERT_TRUE(c.drive_until([&] { return c.client.finished(); }));
    EXPECT_EQ(c.server.error(), "");
    EXPECT_EQ(c.server.echoed(), 1u + 16385u + 100000u);
    EXPECT_EQ(c.server.stream().ssl(), nullptr);
  }
  SSL_CTX_free(stream_ctx);
  SSL_CTX_free(peer_ctx);
}

TEST_F(StreamTlsTest, Tls12StaysWithOpenSsl) {
  Connection c(server_ctx_, client_ctx_);
  c.server.echo(kSmallReads);
  c.client.start([](Client& client) {
    ASSERT_EQ(SSL_set_max_proto_version(client.ssl(), TLS1_2_VERSION), 1);
    if (!client.handshake()) return;
    EXPECT_EQ(SSL_version(client.ssl()), TLS1_2_VERSION);
    client.echo_sizes_around_a_record(10);
  });
  ASSERT_TRUE(c.drive_until([&] { return c.client.finished(); }));
  EXPECT_EQ(c.server.error(), "");
  EXPECT_TRUE(c.server.stream().is_tls());
  EXPECT_NE(c.server.stream().ssl(), nullptr);
}

}  // namespace
}  // namespace wsproxy::network

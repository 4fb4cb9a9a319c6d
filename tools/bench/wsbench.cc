// wsbench: a WebSocket load generator (Beast) that verifies every echoed
// byte. Modes:
//   traffic    N connections, K binary messages of S bytes in flight each;
//              messages/s, MB/s and echo latency after a warm-up
//   handshake  N slots, each repeatedly: connect, TLS (full or resumed),
//              upgrade, one echo, close; cycles/s and cycle latency
//   idle       N connections opened at a paced rate and held; prints
//              "established N" once all are open, then after --hold checks
//              every one with an echo
// In traffic and handshake modes it prints "measure start" and "measure
// stop" around the measured period, for a runner to sample CPU time.
// It ends by itself and prints one line of key=value pairs.
//
//   wsbench --url ws://127.0.0.1:8080/x --mode traffic --connections 50
//           --in-flight 8 --size 1024 --warmup 2 --duration 10 [--threads 2]
//           [--sources 16] [--connect-rate 2000] [--ca ca.pem]
//           [--tls13-cipher TLS_AES_128_GCM_SHA256] [--resume] [--hold 10]
#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string url;
  std::string mode = "traffic";
  int connections = 1;
  int in_flight = 1;
  std::size_t size = 64;
  double warmup = 1;
  double duration = 5;
  int threads = 1;
  int sources = 1;
  double connect_rate = 0;  // per second; 0: no pacing
  std::string ca;
  std::string tls13_cipher = "TLS_AES_128_GCM_SHA256";
  bool resume = false;
  double hold = 5;
  // From the URL.
  bool tls = false;
  std::string host, port, target;
};

// What one thread saw; merged at the end.
struct Results {
  uint64_t ok = 0, failed = 0, messages = 0, bytes = 0, mismatches = 0, errors = 0, cycles = 0;
  std::vector<uint32_t> latency_us;
  std::string first_error;

  void error(const std::string& what) {
    ++errors;
    if (first_error.empty()) first_error = what;
  }
};

struct Shared {
  const Options& options;
  std::string payload;  // bytes 8.. of every message; bytes 0..7 carry the sequence number
  std::atomic<bool> measuring{false};
  std::atomic<bool> stopping{false};
  std::atomic<int> established{0};
  std::atomic<int> live{0};  // connections or slots not yet finished
  ssl::context* tls = nullptr;
};

tcp::endpoint source_address(const Options& o, int index) {
  // 127.0.0.1 .. 127.0.0.N: more ephemeral ports for many connections.
  auto bytes = net::ip::make_address_v4("127.0.0.1").to_bytes();
  bytes[3] = static_cast<unsigned char>(1 + index % std::max(1, o.sources));
  return tcp::endpoint(net::ip::address_v4(bytes), 0);
}

// Opens one WebSocket (TCP, TLS, upgrade), then calls done(error message).
template <class Stream, class Done>
void open(websocket::stream<Stream>& ws, tcp::resolver::results_type& targets, const Options& o, int index,
          SSL_SESSION* session, Done done) {
  auto& socket = beast::get_lowest_layer(ws).socket();
  beast::error_code ec;
  socket.open(tcp::v4(), ec);
  if (!ec) socket.bind(source_address(o, index), ec);
  if (ec) return done("bind: " + ec.message());
  beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
  beast::get_lowest_layer(ws).async_connect(targets, [&ws, &o, session, done](beast::error_code ec, const tcp::endpoint&) mutable {
    if (ec) return done("connect: " + ec.message());
    beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
    auto upgrade = [&ws, &o, done]() mutable {
      ws.async_handshake(o.host + ":" + o.port, o.target, [&ws, done](beast::error_code ec) mutable {
        beast::get_lowest_layer(ws).expires_never();
        done(ec ? "upgrade: " + ec.message() : std::string());
      });
    };
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      if (session != nullptr) SSL_set_session(ws.next_layer().native_handle(), session);
      ws.next_layer().async_handshake(ssl::stream_base::client, [upgrade, done](beast::error_code ec) mutable {
        if (ec) return done("tls: " + ec.message());
        upgrade();
      });
    } else {
      upgrade();
    }
  });
}

template <class Stream>
std::unique_ptr<websocket::stream<Stream>> make_stream(net::io_context& io, Shared& shared) {
  std::unique_ptr<websocket::stream<Stream>> ws;
  if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
    ws = std::make_unique<websocket::stream<Stream>>(io, *shared.tls);
    SSL_set_tlsext_host_name(ws->next_layer().native_handle(), shared.options.host.c_str());
  } else {
    ws = std::make_unique<websocket::stream<Stream>>(io);
  }
  ws->binary(true);
  ws->auto_fragment(false);
  ws->read_message_max(64 << 20);
  return ws;
}

// traffic and idle: one long-lived connection.
template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(net::io_context& io, Shared& shared, Results& results, tcp::resolver::results_type targets, int index)
      : shared_(shared), results_(results), targets_(std::move(targets)), index_(index),
        ws_(make_stream<Stream>(io, shared)), message_(shared.payload.size() + 8, '\0') {
    std::memcpy(&message_[8], shared.payload.data(), shared.payload.size());
  }

  void start() {
    ++shared_.live;
    auto self = this->shared_from_this();
    open(*ws_, targets_, shared_.options, index_, nullptr, [self](std::string error) {
      if (!error.empty()) {
        ++self->results_.failed;
        self->results_.error(error);
        return self->finish();
      }
      ++self->results_.ok;
      ++self->shared_.established;
      self->read();
      if (self->shared_.options.mode == "traffic") self->send();
    });
  }

  // idle mode: one echo to show the connection still works, then close.
  void check() {
    if (closed_) return;
    verify_only_ = true;
    send_one();
  }

  void stop() {
    if (!closed_ && in_flight_ == 0 && !writing_) close();
  }

 private:
  void send() {
    if (closed_ || shared_.stopping || writing_ || in_flight_ >= shared_.options.in_flight) return;
    send_one();
  }

  void send_one() {
    uint64_t seq = next_send_++;
    std::memcpy(&message_[0], &seq, 8);
    sent_at_.push_back(Clock::now());
    ++in_flight_;
    writing_ = true;
    ws_->async_write(net::buffer(message_), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      if (ec) return self->fail("write: " + ec.message());
      if (self->shared_.options.mode == "traffic") self->send();
    });
  }

  void read() {
    ws_->async_read(buffer_, [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) {
        if (self->closing_) return self->finish();
        return self->fail("read: " + ec.message());
      }
      self->on_message(n);
    });
  }

  void on_message(std::size_t n) {
    auto data = static_cast<const char*>(buffer_.data().data());
    uint64_t seq = 0;
    if (n >= 8) std::memcpy(&seq, data, 8);
    bool same = n == message_.size() && seq == next_receive_ &&
                std::memcmp(data + 8, shared_.payload.data(), shared_.payload.size()) == 0;
    if (!same) ++results_.mismatches;
    ++next_receive_;
    auto latency = Clock::now() - sent_at_.front();
    sent_at_.pop_front();
    --in_flight_;
    if (shared_.measuring) {
      ++results_.messages;
      results_.bytes += n;
      results_.latency_us.push_back(static_cast<uint32_t>(
          std::min<int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(latency).count(), UINT32_MAX)));
    }
    buffer_.consume(buffer_.size());
    if (verify_only_ || shared_.stopping) {
      if (in_flight_ == 0 && !writing_) return close();
    } else {
      send();
    }
    read();
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    ws_->async_close(websocket::close_code::normal,
                     [self = this->shared_from_this()](beast::error_code) { self->finish(); });
  }

  void fail(const std::string& what) {
    if (closed_) return;
    results_.error(what);
    finish();
  }

  void finish() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(*ws_).socket().close(ignored);
    --shared_.live;
  }

  Shared& shared_;
  Results& results_;
  tcp::resolver::results_type targets_;
  int index_;
  std::unique_ptr<websocket::stream<Stream>> ws_;
  std::string message_;
  beast::flat_buffer buffer_;
  std::deque<Clock::time_point> sent_at_;
  uint64_t next_send_ = 0, next_receive_ = 0;
  int in_flight_ = 0;
  bool writing_ = false, closing_ = false, closed_ = false, verify_only_ = false;
};

// handshake mode: one slot cycling through whole connections.
template <class Stream>
class Cycler : public std::enable_shared_from_this<Cycler<Stream>> {
 public:
  Cycler(net::io_context& io, Shared& shared, Results& results, tcp::resolver::results_type targets, int index)
      : io_(io), shared_(shared), results_(results), targets_(std::move(targets)), index_(index),
        message_(shared.payload.size() + 8, '\0') {
    std::memcpy(&message_[8], shared.payload.data(), shared.payload.size());
  }
  ~Cycler() {
    if (session_ != nullptr) SSL_SESSION_free(session_);
  }

  void start() {
    ++shared_.live;
    cycle();
  }

 private:
  void cycle() {
    if (shared_.stopping) {
      --shared_.live;
      return;
    }
    ws_ = make_stream<Stream>(io_, shared_);
    started_ = Clock::now();
    auto self = this->shared_from_this();
    open(*ws_, targets_, shared_.options, index_, shared_.options.resume ? session_ : nullptr, [self](std::string error) {
      if (!error.empty()) return self->fail(error);
      self->ws_->async_write(net::buffer(self->message_), [self](beast::error_code ec, std::size_t) {
        if (ec) return self->fail("write: " + ec.message());
        self->ws_->async_read(self->buffer_, [self](beast::error_code ec, std::size_t n) {
          if (ec) return self->fail("read: " + ec.message());
          if (n != self->message_.size() ||
              std::memcmp(static_cast<const char*>(self->buffer_.data().data()), self->message_.data(), n) != 0) {
            ++self->results_.mismatches;
          }
          self->buffer_.consume(self->buffer_.size());
          self->ws_->async_close(websocket::close_code::normal, [self](beast::error_code ec) {
            if (ec) return self->fail("close: " + ec.message());
            self->done();
          });
        });
      });
    });
  }

  void done() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      if (session_ != nullptr) SSL_SESSION_free(session_);
      session_ = SSL_get1_session(ws_->next_layer().native_handle());
    }
    if (shared_.measuring) {
      ++results_.cycles;
      ++results_.messages;
      results_.latency_us.push_back(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count()));
    }
    ++results_.ok;
    cycle();
  }

  void fail(const std::string& what) {
    ++results_.failed;
    results_.error(what);
    cycle();
  }

  net::io_context& io_;
  Shared& shared_;
  Results& results_;
  tcp::resolver::results_type targets_;
  int index_;
  std::unique_ptr<websocket::stream<Stream>> ws_;
  std::string message_;
  beast::flat_buffer buffer_;
  SSL_SESSION* session_ = nullptr;
  Clock::time_point started_;
};

bool parse_url(Options& o) {
  std::string rest;
  if (o.url.rfind("ws://", 0) == 0) {
    rest = o.url.substr(5);
  } else if (o.url.rfind("wss://", 0) == 0) {
    o.tls = true;
    rest = o.url.substr(6);
  } else {
    return false;
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  o.target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = authority.rfind(':');
  if (colon == std::string::npos) return false;
  o.host = authority.substr(0, colon);
  o.port = authority.substr(colon + 1);
  return true;
}

double percentile(std::vector<uint32_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  std::size_t i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1));
  return sorted[i];
}

template <class Stream>
void run(Options& o, Shared& shared, std::vector<Results>& per_thread) {
  std::vector<std::unique_ptr<net::io_context>> ios;
  for (int t = 0; t < o.threads; ++t) ios.push_back(std::make_unique<net::io_context>(1));
  tcp::resolver resolver(*ios[0]);
  auto targets = resolver.resolve(o.host, o.port);
  std::vector<std::shared_ptr<Connection<Stream>>> connections;
  std::vector<std::shared_ptr<Cycler<Stream>>> cyclers;
  // Starts are paced on each thread's own timer.
  std::vector<std::unique_ptr<net::steady_timer>> pacers;
  std::vector<std::unique_ptr<std::function<void()>>> starters;  // each thread's next start
  auto interval = o.connect_rate > 0 ? std::chrono::nanoseconds(static_cast<int64_t>(1e9 * o.threads / o.connect_rate))
                                     : std::chrono::nanoseconds(0);
  for (int i = 0; i < o.connections; ++i) {
    int t = i % o.threads;
    if (o.mode == "handshake") {
      cyclers.push_back(std::make_shared<Cycler<Stream>>(*ios[t], shared, per_thread[t], targets, i));
    } else {
      connections.push_back(std::make_shared<Connection<Stream>>(*ios[t], shared, per_thread[t], targets, i));
    }
  }
  for (int t = 0; t < o.threads; ++t) {
    pacers.push_back(std::make_unique<net::steady_timer>(*ios[t]));
    auto next = std::make_shared<int>(t);
    auto* pacer = pacers.back().get();
    auto* step = starters.emplace_back(std::make_unique<std::function<void()>>()).get();
    *step = [&, next, pacer, step] {
      while (*next < o.connections) {
        int i = *next;
        *next += o.threads;
        if (o.mode == "handshake") cyclers[i]->start(); else connections[i]->start();
        if (interval.count() > 0) {
          pacer->expires_after(interval);
          pacer->async_wait([step](beast::error_code) { (*step)(); });
          return;
        }
      }
    };
    net::post(*ios[t], [step] { (*step)(); });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      auto guard = net::make_work_guard(*ios[t]);
      ios[t]->run();
    });
  }

  auto sleep = [](double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); };
  if (o.mode == "idle") {
    auto deadline = Clock::now() + std::chrono::seconds(120);
    uint64_t failed = 0;
    while (Clock::now() < deadline) {
      failed = 0;
      for (auto& r : per_thread) failed += r.failed;
      if (shared.established + static_cast<int>(failed) >= o.connections) break;
      sleep(0.05);
    }
    std::printf("established %d\n", shared.established.load());
    std::fflush(stdout);
    sleep(o.hold);
    shared.measuring = true;
    for (int i = 0; i < o.connections; ++i) {
      net::post(*ios[i % o.threads], [c = connections[i]] { c->check(); });
    }
  } else {
    sleep(o.warmup);
    shared.measuring = true;
    // The runner samples the proxy's CPU time at these two lines.
    std::printf("measure start\n");
    std::fflush(stdout);
    sleep(o.duration);
    shared.measuring = false;
    std::printf("measure stop\n");
    std::fflush(stdout);
    shared.stopping = true;
    for (int i = 0; i < static_cast<int>(connections.size()); ++i) {
      net::post(*ios[i % o.threads], [c = connections[i]] { c->stop(); });
    }
  }
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (shared.live > 0 && Clock::now() < deadline) sleep(0.02);
  for (auto& io : ios) io->stop();
  for (auto& t : threads) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "wsbench: %s needs a value\n", flag.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (flag == "--url") o.url = value();
    else if (flag == "--mode") o.mode = value();
    else if (flag == "--connections" || flag == "--slots") o.connections = std::atoi(value().c_str());
    else if (flag == "--in-flight") o.in_flight = std::atoi(value().c_str());
    else if (flag == "--size") o.size = static_cast<std::size_t>(std::atol(value().c_str()));
    else if (flag == "--warmup") o.warmup = std::atof(value().c_str());
    else if (flag == "--duration") o.duration = std::atof(value().c_str());
    else if (flag == "--threads") o.threads = std::max(1, std::atoi(value().c_str()));
    else if (flag == "--sources") o.sources = std::max(1, std::atoi(value().c_str()));
    else if (flag == "--connect-rate") o.connect_rate = std::atof(value().c_str());
    else if (flag == "--ca") o.ca = value();
    else if (flag == "--tls13-cipher") o.tls13_cipher = value();
    else if (flag == "--resume") o.resume = true;
    else if (flag == "--hold") o.hold = std::atof(value().c_str());
    else {
      std::fprintf(stderr, "wsbench: unknown flag %s (see the comment at the top of wsbench.cc)\n", flag.c_str());
      return 2;
    }
  }
  if (!parse_url(o) || (o.mode != "traffic" && o.mode != "handshake" && o.mode != "idle") || o.size < 8) {
    std::fprintf(stderr, "wsbench: need --url ws(s)://host:port/path, --mode traffic|handshake|idle, --size >= 8\n");
    return 2;
  }
  Shared shared{o, {}};
  std::mt19937 random(12345);
  shared.payload.resize(o.size - 8);
  for (auto& c : shared.payload) c = static_cast<char>(random());
  std::optional<ssl::context> tls;
  if (o.tls) {
    tls.emplace(ssl::context::tls_client);
    SSL_CTX* ctx = tls->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_ciphersuites(ctx, o.tls13_cipher.c_str());
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
    if (o.ca.empty()) {
      tls->set_verify_mode(ssl::verify_none);
    } else {
      tls->load_verify_file(o.ca);
      tls->set_verify_mode(ssl::verify_peer);
    }
    shared.tls = &*tls;
  }
  std::vector<Results> per_thread(o.threads);
  auto started = Clock::now();
  if (o.tls) {
    run<beast::ssl_stream<beast::tcp_stream>>(o, shared, per_thread);
  } else {
    run<beast::tcp_stream>(o, shared, per_thread);
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  Results total;
  for (auto& r : per_thread) {
    total.ok += r.ok;
    total.failed += r.failed;
    total.messages += r.messages;
    total.bytes += r.bytes;
    total.mismatches += r.mismatches;
    total.errors += r.errors;
    total.cycles += r.cycles;
    total.latency_us.insert(total.latency_us.end(), r.latency_us.begin(), r.latency_us.end());
    if (total.first_error.empty()) total.first_error = r.first_error;
  }
  std::sort(total.latency_us.begin(), total.latency_us.end());
  double seconds = o.mode == "idle" ? 1 : o.duration;
  std::printf("mode=%s connections_ok=%llu connections_failed=%llu messages=%llu msgs_per_s=%.1f mb_per_s=%.2f "
              "cycles=%llu cycles_per_s=%.1f p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f "
              "mismatches=%llu errors=%llu elapsed_s=%.1f",
              o.mode.c_str(), (unsigned long long)total.ok, (unsigned long long)total.failed,
              (unsigned long long)total.messages, total.messages / seconds, total.bytes / seconds / 1e6,
              (unsigned long long)total.cycles, total.cycles / seconds, percentile(total.latency_us, 0.5),
              percentile(total.latency_us, 0.9), percentile(total.latency_us, 0.99),
              percentile(total.latency_us, 0.999), total.latency_us.empty() ? 0.0 : total.latency_us.back(),
              (unsigned long long)total.mismatches, (unsigned long long)total.errors, elapsed);
  if (!total.first_error.empty()) std::printf(" first_error=\"%s\"", total.first_error.c_str());
  std::printf("\n");
  return total.mismatches == 0 ? 0 : 1;
}

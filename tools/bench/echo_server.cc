// wsecho: a fast multi-threaded WebSocket echo server for benchmarks. One
// io_context per thread, each with its own SO_REUSEPORT acceptor. Two ways
// to answer, as two kinds of upstream would:
//   per message (default)  Beast reads each message and writes it back in a
//                          write of its own, as an application built on
//                          Beast does.
//   --batch                after the upgrade, raw frames: each read takes
//                          whatever has arrived, every whole frame in it is
//                          answered (data frames echoed as they came, same
//                          opcode and FIN, unmasked; pings ponged; a close
//                          answered with its payload, then the connection
//                          ended), and the answers go out in one write. It
//                          costs the server about half as much per message.
//
//   wsecho --port 9000 [--threads N] [--tls-cert C --tls-key K] [--batch]
// Prints "wsecho listening on 127.0.0.1:PORT" when ready (--port 0: the
// kernel picks).
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr uint64_t kMaxFrame = 64 << 20;
constexpr std::size_t kReadSize = 64 << 10;

std::string accept_key(std::string_view key) {
  std::string text(key);
  text += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded), digest, SHA_DIGEST_LENGTH);
  return encoded;
}

// Appends a server frame (never masked) with the given first byte.
void append_frame(std::string& out, unsigned char first, const unsigned char* payload, uint64_t size,
                  const unsigned char* mask) {
  unsigned char header[10] = {first};
  std::size_t length = 2;
  if (size < 126) {
    header[1] = static_cast<unsigned char>(size);
  } else if (size < 65536) {
    header[1] = 126;
    header[2] = static_cast<unsigned char>(size >> 8);
    header[3] = static_cast<unsigned char>(size);
    length = 4;
  } else {
    header[1] = 127;
    for (int i = 0; i < 8; ++i) header[2 + i] = static_cast<unsigned char>(size >> (8 * (7 - i)));
    length = 10;
  }
  out.append(reinterpret_cast<const char*>(header), length);
  std::size_t at = out.size();
  out.resize(at + size);
  auto* to = reinterpret_cast<unsigned char*>(out.data() + at);
  // Unmasked eight bytes at a time: the mask repeats every four.
  uint64_t mask8;
  unsigned char repeated[8];
  for (int i = 0; i < 8; ++i) repeated[i] = mask[i % 4];
  std::memcpy(&mask8, repeated, 8);
  uint64_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, payload + i, 8);
    word ^= mask8;
    std::memcpy(to + i, &word, 8);
  }
  for (; i < size; ++i) to[i] = payload[i] ^ mask[i % 4];
}

template <class Stream>
class BatchSession : public std::enable_shared_from_this<BatchSession<Stream>> {
 public:
  explicit BatchSession(Stream stream) : stream_(std::move(stream)) {}

  void start() {
    http::async_read(stream_, in_, request_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->upgrade();
    });
  }

 private:
  void upgrade() {
    auto key = request_[http::field::sec_websocket_key];
    if (!websocket::is_upgrade(request_) || key.empty()) {
      out_ = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      return write_then_end();
    }
    out_ = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
           accept_key(std::string_view(key.data(), key.size())) + "\r\n\r\n";
    // Frames that came with the request are answered in the same write.
    answer();
  }

  // Answers every whole frame read so far, then writes, or reads more.
  void answer() {
    bool closing = false;
    while (!closing) {
      auto* data = static_cast<const unsigned char*>(in_.data().data());
      std::size_t size = in_.size();
      if (size < 2) break;
      unsigned char first = data[0];
      unsigned opcode = first & 0x0f;
      uint64_t length = data[1] & 0x7f;
      std::size_t header = 2;
      if (length == 126) {
        header = 4;
        if (size < header) break;
        length = (uint64_t{data[2]} << 8) | data[3];
      } else if (length == 127) {
        header = 10;
        if (size < header) break;
        length = 0;
        for (int i = 0; i < 8; ++i) length = (length << 8) | data[2 + i];
      }
      bool control = opcode >= 8;
      if (!(data[1] & 0x80) || (first & 0x70) || length > kMaxFrame || (opcode > 2 && !control) ||
          (control && (length > 125 || !(first & 0x80))) || opcode > 10) {
        return end();  // unmasked, extension bits, too big, or an unknown opcode: not a client we serve
      }
      if (size < header + 4 + length) break;
      const unsigned char* mask = data + header;
      const unsigned char* payload = mask + 4;
      if (opcode == 8) {
        append_frame(out_, 0x88, payload, length, mask);
        closing = true;
      } else if (opcode == 9) {
        append_frame(out_, 0x8a, payload, length, mask);
      } else if (opcode != 10) {
        append_frame(out_, first, payload, length, mask);
      }
      in_.consume(header + 4 + length);
    }
    if (closing) return write_then_end();
    if (!out_.empty()) {
      return net::async_write(stream_, net::buffer(out_),
                              [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                                if (ec) return;
                                self->out_.clear();
                                self->answer();
                              });
    }
    stream_.async_read_some(in_.prepare(kReadSize),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return;
                              self->in_.commit(n);
                              self->answer();
                            });
  }

  void write_then_end() {
    net::async_write(stream_, net::buffer(out_), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->end();
    });
  }

  // The server ends the TCP connection (RFC 6455 7.1.1); with TLS, after a
  // close_notify.
  void end() {
    using websocket::async_teardown;  // the TLS stream's own is found by its type
    async_teardown(beast::role_type::server, stream_,
                              [self = this->shared_from_this()](beast::error_code) {});
  }

  Stream stream_;
  beast::flat_buffer in_;
  http::request<http::empty_body> request_;
  std::string out_;
};

template <class Stream>
class MessageSession : public std::enable_shared_from_this<MessageSession<Stream>> {
 public:
  explicit MessageSession(Stream stream) : ws_(std::move(stream)) {}

  void start() {
    ws_.read_message_max(64 << 20);
    ws_.auto_fragment(false);
    ws_.async_accept([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->ws_.text(self->ws_.got_text());
      self->ws_.async_write(self->buffer_.data(), [self](beast::error_code ec, std::size_t) {
        if (ec) return;
        self->buffer_.consume(self->buffer_.size());
        self->read();
      });
    });
  }

  websocket::stream<Stream> ws_;
  beast::flat_buffer buffer_;
};

struct Options {
  std::string address = "127.0.0.1";
  unsigned short port = 9000;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::string cert, key;
  bool batch = false;
};

template <class Stream>
void serve(Stream stream, bool batch) {
  if (batch) {
    std::make_shared<BatchSession<Stream>>(std::move(stream))->start();
  } else {
    std::make_shared<MessageSession<Stream>>(std::move(stream))->start();
  }
}

void accept(tcp::acceptor& acceptor, net::ssl::context* tls, bool batch) {
  acceptor.async_accept([&acceptor, tls, batch](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      if (tls != nullptr) {
        auto stream = std::make_shared<beast::ssl_stream<tcp::socket>>(std::move(socket), *tls);
        stream->async_handshake(net::ssl::stream_base::server, [stream, batch](beast::error_code ec) {
          if (!ec) serve(std::move(*stream), batch);
        });
      } else {
        serve(std::move(socket), batch);
      }
    }
    accept(acceptor, tls, batch);
  });
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--batch") {
      o.batch = true;
      continue;
    }
    if (i + 1 == argc) {
      std::fprintf(stderr, "wsecho: %s needs a value\n", flag.c_str());
      return 2;
    }
    std::string value = argv[++i];
    if (flag == "--address") o.address = value;
    else if (flag == "--port") o.port = static_cast<unsigned short>(std::atoi(value.c_str()));
    else if (flag == "--threads") o.threads = static_cast<unsigned>(std::atoi(value.c_str()));
    else if (flag == "--tls-cert") o.cert = value;
    else if (flag == "--tls-key") o.key = value;
    else {
      std::fprintf(stderr, "usage: wsecho [--address A] [--port P] [--threads N] [--tls-cert C --tls-key K] [--batch]\n");
      return 2;
    }
  }
  std::optional<net::ssl::context> tls;
  if (!o.cert.empty()) {
    tls.emplace(net::ssl::context::tls_server);
    tls->use_certificate_chain_file(o.cert);
    tls->use_private_key_file(o.key, net::ssl::context::pem);
  }
  std::vector<std::unique_ptr<net::io_context>> ios;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  tcp::endpoint endpoint(net::ip::make_address(o.address), o.port);
  for (unsigned i = 0; i < o.threads; ++i) {
    ios.push_back(std::make_unique<net::io_context>(1));
    auto acceptor = std::make_unique<tcp::acceptor>(*ios.back());
    acceptor->open(endpoint.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    int one = 1;
    setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    acceptor->bind(endpoint);
    acceptor->listen(4096);
    endpoint.port(acceptor->local_endpoint().port());
    accept(*acceptor, tls ? &*tls : nullptr, o.batch);
    acceptors.push_back(std::move(acceptor));
  }
  std::printf("wsecho listening on %s:%u\n", o.address.c_str(), endpoint.port());
  std::fflush(stdout);
  net::signal_set signals(*ios[0], SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) {
    for (auto& io : ios) io->stop();
  });
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < o.threads; ++i) threads.emplace_back([&, i] { ios[i]->run(); });
  ios[0]->run();
  for (auto& io : ios) io->stop();
  for (auto& t : threads) t.join();
  return 0;
}

// wsecho: a fast multi-threaded WebSocket echo server for benchmarks (Beast).
// Every message comes back as it arrived (text or binary). One io_context
// per thread, each with its own SO_REUSEPORT acceptor.
//
//   wsecho --port 9000 [--threads N] [--tls-cert C --tls-key K]
// Prints "wsecho listening on 127.0.0.1:PORT" when ready (--port 0: the
// kernel picks).
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  explicit Session(Stream stream) : ws_(std::move(stream)) {}

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
};

void accept(tcp::acceptor& acceptor, net::ssl::context* tls) {
  acceptor.async_accept([&acceptor, tls](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      if (tls != nullptr) {
        auto stream = std::make_shared<beast::ssl_stream<tcp::socket>>(std::move(socket), *tls);
        stream->async_handshake(net::ssl::stream_base::server, [stream](beast::error_code ec) {
          if (!ec) std::make_shared<Session<beast::ssl_stream<tcp::socket>>>(std::move(*stream))->start();
        });
      } else {
        std::make_shared<Session<tcp::socket>>(std::move(socket))->start();
      }
    }
    accept(acceptor, tls);
  });
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--address") o.address = value;
    else if (flag == "--port") o.port = static_cast<unsigned short>(std::atoi(value.c_str()));
    else if (flag == "--threads") o.threads = static_cast<unsigned>(std::atoi(value.c_str()));
    else if (flag == "--tls-cert") o.cert = value;
    else if (flag == "--tls-key") o.key = value;
    else {
      std::fprintf(stderr, "usage: wsecho [--address A] [--port P] [--threads N] [--tls-cert C --tls-key K]\n");
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
    accept(*acceptor, tls ? &*tls : nullptr);
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

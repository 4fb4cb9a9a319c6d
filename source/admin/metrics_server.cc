// The metrics and readiness endpoint.
#include "source/admin/metrics_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "source/admin/acceptor.h"
#include "source/admin/prometheus.h"
#include "source/common/log.h"

namespace wsproxy::admin {
namespace {

using boost::asio::ip::tcp;

constexpr std::size_t kMaxRequestBytes = 8192;
constexpr std::size_t kMaxExchanges = 16;

std::string response(int status, const char* reason, const char* type, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// One request: read the head (bounded in size and time), answer, close.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(tcp::socket socket, const Backend& backend, std::shared_ptr<std::size_t> open_exchanges)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buffer_(kMaxRequestBytes),
        backend_(backend),
        open_exchanges_(std::move(open_exchanges)) {
    ++*open_exchanges_;
  }
  ~Exchange() { --*open_exchanges_; }

  void start() {
    timer_.expires_after(std::chrono::seconds(5));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->socket_.close();
    });
    boost::asio::async_read_until(socket_, buffer_, "\r\n\r\n",
                                  [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                                    self->answer(ec);
                                  });
  }

 private:
  void answer(const boost::system::error_code& ec) {
    if (ec) return close();
    std::string head(boost::asio::buffers_begin(buffer_.data()), boost::asio::buffers_end(buffer_.data()));
    std::string line = head.substr(0, head.find("\r\n"));
    if (line.rfind("GET /metrics ", 0) == 0 || line.rfind("GET /metrics?", 0) == 0) {
      out_ = response(200, "OK", "text/plain; version=0.0.4", prometheus_text(backend_.stats()));
    } else if (line.rfind("GET /ready ", 0) == 0) {
      out_ = backend_.server_info().draining ? response(503, "Service Unavailable", "text/plain", "draining\n")
                                             : response(200, "OK", "text/plain", "live\n");
    } else {
      out_ = response(404, "Not Found", "text/plain", "try /metrics or /ready\n");
    }
    boost::asio::async_write(socket_, boost::asio::buffer(out_),
                             [self = shared_from_this()](const boost::system::error_code&, std::size_t) {
                               self->close();
                             });
  }

  void close() {
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  boost::asio::steady_timer timer_;
  boost::asio::streambuf buffer_;
  std::string out_;
  const Backend& backend_;
  std::shared_ptr<std::size_t> open_exchanges_;
};

}  // namespace

struct MetricsServer::Impl {
  std::shared_ptr<Acceptor> acceptor;
  // Exchanges open now; past kMaxExchanges a connection is closed at once,
  // so a flood on this port cannot take the descriptors the proxy needs.
  std::shared_ptr<std::size_t> open_exchanges = std::make_shared<std::size_t>(0);
};

std::unique_ptr<MetricsServer> MetricsServer::start(boost::asio::io_context& io,
                                                    const config::v1::SocketAddress& address, const Backend& backend,
                                                    std::string& error) {
  auto impl = std::make_shared<Impl>();
  impl->acceptor = Acceptor::listen(
      io, address.address(), static_cast<uint16_t>(address.port()), "admin http",
      [&backend, open = impl->open_exchanges](tcp::socket socket) {
        if (*open >= kMaxExchanges) return;  // the socket closes here
        std::make_shared<Exchange>(std::move(socket), backend, open)->start();
      },
      error);
  if (impl->acceptor == nullptr) return nullptr;
  log::info("admin http listening on " + address.address() + ":" + std::to_string(impl->acceptor->port()) +
            " (/metrics, /ready)");
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::~MetricsServer() { impl_->acceptor->close(); }

}  // namespace wsproxy::admin

// The metrics and readiness endpoint.
#include "source/admin/metrics_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "source/admin/prometheus.h"
#include "source/common/log.h"

namespace wsproxy::admin {
namespace {

using boost::asio::ip::tcp;

constexpr std::size_t kMaxRequestBytes = 8192;

std::string response(int status, const char* reason, const char* type, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// One request: read the head (bounded in size and time), answer, close.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(tcp::socket socket, const Backend& backend)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), buffer_(kMaxRequestBytes), backend_(backend) {}

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
};

}  // namespace

struct MetricsServer::Impl : std::enable_shared_from_this<MetricsServer::Impl> {
  Impl(boost::asio::io_context& io, const Backend& b) : acceptor(io), backend(b) {}

  void accept() {
    acceptor.async_accept([self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
      if (!self->acceptor.is_open()) return;
      if (!ec) std::make_shared<Exchange>(std::move(socket), self->backend)->start();
      self->accept();
    });
  }

  tcp::acceptor acceptor;
  const Backend& backend;
};

std::unique_ptr<MetricsServer> MetricsServer::start(boost::asio::io_context& io,
                                                    const config::v1::SocketAddress& address, const Backend& backend,
                                                    std::string& error) {
  auto impl = std::make_shared<Impl>(io, backend);
  boost::system::error_code ec;
  tcp::endpoint endpoint(boost::asio::ip::make_address(address.address(), ec), static_cast<uint16_t>(address.port()));
  if (!ec) impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(64, ec);
  if (ec) {
    error = "cannot listen on " + address.address() + ":" + std::to_string(address.port()) + ": " + ec.message();
    return nullptr;
  }
  auto bound = impl->acceptor.local_endpoint(ec);
  log::info("admin http listening on " + bound.address().to_string() + ":" + std::to_string(bound.port()) +
            " (/metrics, /ready)");
  impl->accept();
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::~MetricsServer() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace wsproxy::admin

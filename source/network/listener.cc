// Accepting sockets.
#include "source/network/listener.h"

#include <sys/socket.h>

#include <boost/asio/socket_base.hpp>

namespace wsproxy::network {
namespace {

using boost::asio::ip::tcp;

constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};
constexpr int kBacklog = 4096;

}  // namespace

std::vector<tcp::acceptor> bind_reuseport(const std::vector<boost::asio::io_context*>& workers,
                                          const std::string& address, uint16_t port, std::string& error) {
  std::vector<tcp::acceptor> out;
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(address, ec);
  if (ec) {
    error = "\"" + address + "\" is not an IP address";
    return {};
  }
  tcp::endpoint endpoint(ip, port);
  for (auto* io : workers) {
    tcp::acceptor acceptor(*io);
    const char* step = "open";
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
      step = "set SO_REUSEADDR on";
      acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
      step = "set SO_REUSEPORT on";
      int one = 1;
      if (setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        ec.assign(errno, boost::system::system_category());
      }
    }
    if (!ec) {
      step = "bind";
      acceptor.bind(endpoint, ec);
    }
    if (!ec) {
      step = "listen on";
      acceptor.listen(kBacklog, ec);
    }
    if (ec) {
      error = std::string("cannot ") + step + " " + endpoint.address().to_string() + ":" +
              std::to_string(endpoint.port()) + ": " + ec.message();
      return {};
    }
    // Port 0: the others join the port the kernel picked for the first.
    endpoint.port(acceptor.local_endpoint(ec).port());
    out.push_back(std::move(acceptor));
  }
  return out;
}

AcceptLoop::AcceptLoop(tcp::acceptor acceptor, OnAccept on_accept, OnError on_error)
    : acceptor_(std::move(acceptor)),
      backoff_timer_(acceptor_.get_executor()),
      on_accept_(std::move(on_accept)),
      on_error_(std::move(on_error)) {}

void AcceptLoop::start() {
  boost::system::error_code ec;
  acceptor_.non_blocking(true, ec);
  accept();
}

void AcceptLoop::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  backoff_timer_.cancel();
}

void AcceptLoop::accept() {
  acceptor_.async_accept([self = shared_from_this()](const boost::system::error_code& ec, Socket socket) {
    self->on_accepted(ec, std::move(socket));
  });
}

void AcceptLoop::on_accepted(const boost::system::error_code& ec, Socket socket) {
  if (!acceptor_.is_open() || ec == boost::asio::error::operation_aborted) return;
  if (!ec) {
    backoff_ = std::chrono::milliseconds(0);
    on_accept_(std::move(socket));
    accept();
    return;
  }
  if (ec == boost::asio::error::connection_aborted) {
    accept();
    return;
  }
  // Out of descriptors or memory: wait, doubling the pause, so the loop does
  // not spin while connections end and free what is needed.
  on_error_(ec);
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  backoff_timer_.expires_after(backoff_);
  backoff_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& wait_ec) {
    if (!wait_ec && self->acceptor_.is_open()) self->accept();
  });
}

}  // namespace wsproxy::network

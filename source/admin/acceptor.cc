// The /metrics endpoint's accept loop, with back-off.
#include "source/admin/acceptor.h"

#include <algorithm>
#include <utility>

#include "source/common/log.h"

namespace wsproxy::admin {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

}  // namespace

using boost::asio::ip::tcp;

Acceptor::Acceptor(boost::asio::io_context& io, std::string what, OnAccept on_accept)
    : acceptor_(io), backoff_timer_(io), what_(std::move(what)), on_accept_(std::move(on_accept)) {}

std::shared_ptr<Acceptor> Acceptor::listen(boost::asio::io_context& io, const std::string& host, uint16_t port,
                                           std::string what, OnAccept on_accept, std::string& error) {
  std::shared_ptr<Acceptor> self(new Acceptor(io, std::move(what), std::move(on_accept)));
  boost::system::error_code ec;
  tcp::endpoint endpoint(boost::asio::ip::make_address(host, ec), port);
  if (!ec) self->acceptor_.open(endpoint.protocol(), ec);
  if (!ec) self->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) self->acceptor_.bind(endpoint, ec);
  if (!ec) self->acceptor_.listen(128, ec);
  if (!ec) self->port_ = self->acceptor_.local_endpoint(ec).port();
  if (ec) {
    error = "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message();
    return nullptr;
  }
  self->accept();
  return self;
}

void Acceptor::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  backoff_timer_.cancel();
}

void Acceptor::accept() {
  acceptor_.async_accept([self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
    if (!self->acceptor_.is_open()) return;
    if (ec) return self->back_off(ec);
    if (self->failures_in_a_row_ > 0) {
      log::info(self->what_ + ": accepting again after " + std::to_string(self->failures_in_a_row_) +
                " failed attempt(s)");
      self->failures_in_a_row_ = 0;
      self->backoff_ = std::chrono::milliseconds(0);
    }
    self->on_accept_(std::move(socket));
    self->accept();
  });
}

void Acceptor::back_off(const boost::system::error_code& error) {
  // One line when a streak starts, then one a minute at most.
  if (++failures_in_a_row_ % 60 == 1) {
    log::error(what_ + ": accept failed: " + error.message() + "; backing off (" +
               std::to_string(failures_in_a_row_) + " in a row)");
  }
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  backoff_timer_.expires_after(backoff_);
  backoff_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && self->acceptor_.is_open()) self->accept();
  });
}

}  // namespace wsproxy::admin

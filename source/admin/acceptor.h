// Accepting for the /metrics endpoint on the main thread. Unlike a bare
// asio accept loop, it neither spins nor gives up when accept fails for want
// of descriptors or memory: it backs off (10 ms, doubling to 1 s) and
// resumes by itself.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace wsproxy::admin {

class Acceptor : public std::enable_shared_from_this<Acceptor> {
 public:
  using OnAccept = std::function<void(boost::asio::ip::tcp::socket)>;

  // Listens on host:port (port 0: the kernel picks) and accepts until
  // close(); `what` names it in log lines. Null, with `error`, if it cannot.
  static std::shared_ptr<Acceptor> listen(boost::asio::io_context& io, const std::string& host, uint16_t port,
                                          std::string what, OnAccept on_accept, std::string& error);

  uint16_t port() const { return port_; }
  void close();

 private:
  Acceptor(boost::asio::io_context& io, std::string what, OnAccept on_accept);
  void accept();
  void back_off(const boost::system::error_code& error);

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_timer_;
  std::chrono::milliseconds backoff_{0};
  uint64_t failures_in_a_row_ = 0;
  uint16_t port_ = 0;
  std::string what_;
  OnAccept on_accept_;
};

}  // namespace wsproxy::admin

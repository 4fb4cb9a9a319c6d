// Accepting sockets: one SO_REUSEPORT socket per worker on the same address,
// so the kernel spreads new connections over workers and a connection lives
// on one thread. Does not know what a connection is: each accepted socket is
// handed to a handler that the server wires in.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace wsproxy::network {

// Binds and listens on address:port once per io_context in `workers`. Port 0
// lets the kernel pick a port for the first socket; the others share it.
// Returns the sockets, or nothing with `error` set.
std::vector<boost::asio::ip::tcp::acceptor> bind_reuseport(
    const std::vector<boost::asio::io_context*>& workers, const std::string& address, uint16_t port,
    std::string& error);

// Accepts on one socket until stopped. Lives on its worker's thread: start()
// and stop() must be called there.
class AcceptLoop : public std::enable_shared_from_this<AcceptLoop> {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  // Called with each accepted connection.
  using OnAccept = std::function<void(Socket)>;
  // Called when accept fails for a reason other than stopping (for example
  // no free file descriptors); the loop backs off and retries.
  using OnError = std::function<void(const boost::system::error_code&)>;

  AcceptLoop(boost::asio::ip::tcp::acceptor acceptor, OnAccept on_accept, OnError on_error);

  void start();
  void stop();

 private:
  void accept();
  void on_accepted(const boost::system::error_code& ec, Socket socket);

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_timer_;
  std::chrono::milliseconds backoff_{0};
  OnAccept on_accept_;
  OnError on_error_;
};

}  // namespace wsproxy::network

// Tunnel mode relay.
#include "source/proxy/tunnel.h"

#include <boost/asio/post.hpp>

namespace wsproxy::proxy {
namespace {

// Reads per wake-up before yielding to other connections on the worker.
constexpr int kRoundsPerWake = 16;

}  // namespace

Tunnel::Tunnel(network::Stream& client, network::Stream& upstream, network::BufferPool& pool, Observer& observer,
               Counters from_client, Counters from_upstream)
    : pool_(pool),
      observer_(observer),
      to_upstream_(Side::client, client, upstream, from_client),
      to_client_(Side::upstream, upstream, client, from_upstream),
      last_activity_(std::chrono::steady_clock::now()) {}

Tunnel::~Tunnel() {
  release_buffer(to_upstream_);
  release_buffer(to_client_);
}

void Tunnel::start(std::shared_ptr<void> keep_alive, std::string to_client) {
  to_client_.initial = std::move(to_client);
  to_client_.pending = to_client_.initial.data();
  to_client_.pending_size = to_client_.initial.size();
  run(to_upstream_, keep_alive);
  run(to_client_, std::move(keep_alive));
}

void Tunnel::release_buffer(Direction& d) {
  if (d.buffer) pool_.release(std::move(d.buffer));
}

void Tunnel::wait(Direction& d, network::Stream& stream, network::Io want, std::shared_ptr<void> keep_alive) {
  stream.async_wait(want, [this, &d, keep_alive = std::move(keep_alive)](const boost::system::error_code& ec) mutable {
    if (ec || stopped_) return;
    run(d, std::move(keep_alive));
  });
}

void Tunnel::run(Direction& d, std::shared_ptr<void> keep_alive) {
  using network::Io;
  for (int rounds = 0;; ++rounds) {
    if (stopped_) return;
    if (d.pending_size > 0) {
      network::IoResult w = d.dst.write_some(d.pending, d.pending_size);
      if (w.status == Io::done) {
        d.pending += w.bytes;
        d.pending_size -= w.bytes;
        if (d.pending_size == 0 && !d.initial.empty()) std::string().swap(d.initial);
        continue;
      }
      if (w.status == Io::want_read || w.status == Io::want_write) return wait(d, d.dst, w.status, std::move(keep_alive));
      stopped_ = true;
      return observer_.on_stream_error(d.from == Side::client ? Side::upstream : Side::client, d.dst.error_text());
    }
    if (rounds >= kRoundsPerWake) {
      // Let other connections on this worker run before reading more.
      boost::asio::post(d.src.socket().get_executor(), [this, &d, keep_alive = std::move(keep_alive)]() mutable {
        if (!stopped_) run(d, std::move(keep_alive));
      });
      return;
    }
    if (!d.buffer) d.buffer = pool_.acquire();
    network::IoResult r = d.src.read_some(d.buffer.get(), network::BufferPool::kBufferSize);
    switch (r.status) {
      case Io::done:
        d.pending = d.buffer.get();
        d.pending_size = r.bytes;
        d.bytes += r.bytes;
        d.counters.listener->inc(r.bytes);
        d.counters.cluster->inc(r.bytes);
        last_activity_ = std::chrono::steady_clock::now();
        continue;
      case Io::want_read:
      case Io::want_write:
        release_buffer(d);
        return wait(d, d.src, r.status, std::move(keep_alive));
      case Io::eof:
        release_buffer(d);
        d.dst.shutdown_write();
        return observer_.on_end_of_stream(d.from);
      case Io::error:
        stopped_ = true;
        return observer_.on_stream_error(d.from, d.src.error_text());
    }
  }
}

}  // namespace wsproxy::proxy

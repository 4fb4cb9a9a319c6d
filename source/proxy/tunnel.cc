// Tunnel mode relay.
#include "source/proxy/tunnel.h"

#include <algorithm>
#include <random>

namespace wsproxy::proxy {
namespace {

// Reads per wake-up before yielding to other connections on the worker.
constexpr int kRoundsPerWake = 16;

// Frames with at least this much payload still to come are spliced; less
// is cheaper to copy than to move through a pipe.
constexpr uint64_t kSpliceAtLeast = network::BufferPool::kBufferSize;
// A pipe's default capacity (16 pages).
constexpr uint64_t kPipeBytes = 65536;

// Masking keys for the close frames the proxy sends upstream as a client.
uint32_t mask_key() {
  thread_local std::mt19937 generator{std::random_device{}()};
  return generator();
}

}  // namespace

Tunnel::Tunnel(network::Stream& client, network::Stream& upstream, network::BufferPool& buffers,
               network::PipePool& pipes, Observer& observer, Counters from_client, Counters from_upstream,
               uint64_t max_message_bytes)
    : buffers_(buffers),
      pipes_(pipes),
      plain_(!client.is_tls() && !upstream.is_tls()),
      observer_(observer),
      to_upstream_(Side::client, client, upstream, from_client, max_message_bytes),
      to_client_(Side::upstream, upstream, client, from_upstream, 0),
      last_activity_(client.loop().now()) {}

Tunnel::~Tunnel() {
  for (Direction* d : {&to_upstream_, &to_client_}) {
    if (d->in_pipe > 0) network::PipePool::close(d->pipe);  // its bytes are lost with the connection
    release_buffers(*d);
  }
}

void Tunnel::start(std::shared_ptr<void> keep_alive, std::string to_client, std::size_t websocket_from,
                   std::string_view from_client) {
  follow(to_client_, to_client.data() + websocket_from, to_client.size() - websocket_from);
  follow(to_upstream_, from_client.data(), from_client.size());
  if (to_upstream_.frames.over_limit()) {
    // Those bytes are upstream already: the WebSocket cannot end cleanly.
    stopped_ = true;
    return observer_.on_message_too_big(Side::client, false);
  }
  queue(to_client_, std::move(to_client));
  run(to_upstream_, keep_alive);
  run(to_client_, std::move(keep_alive));
}

void Tunnel::queue(Direction& d, std::string bytes) {
  d.extra = std::move(bytes);
  d.pending = d.extra.data();
  d.pending_size = d.extra.size();
}

void Tunnel::close_with(const std::shared_ptr<void>& keep_alive, uint16_t code, const std::string& reason) {
  close_code_ = code;
  close_reason_ = reason;
  for (Direction* d : {&to_upstream_, &to_client_}) {
    if (d->closing != Closing::no) continue;
    d->closing = Closing::to_boundary;
    // A direction parked on a read between frames can send its close frame
    // now; its pending wait is left to expire unheeded.
    if (d->waiting_to_read && d->frames.at_boundary()) {
      ++d->wait_token;
      d->waiting_to_read = false;
      run(*d, keep_alive);
    }
  }
}

bool Tunnel::close_handshake_done(const Direction& ended) const {
  const Direction& other = &ended == &to_upstream_ ? to_client_ : to_upstream_;
  // The other side's socket must be known empty: closing one with unread
  // bytes resets the connection, which can destroy what was just sent.
  return to_upstream_.frames.close_seen() && to_client_.frames.close_seen() && to_upstream_.pending_size == 0 &&
         to_client_.pending_size == 0 && to_upstream_.in_pipe == 0 && to_client_.in_pipe == 0 &&
         other.waiting_to_read;
}

void Tunnel::release_buffers(Direction& d) {
  if (d.buffer) buffers_.release(std::move(d.buffer));
  if (d.in_pipe == 0) pipes_.release(d.pipe);
}

std::size_t Tunnel::follow(Direction& d, const char* data, std::size_t size) {
  uint64_t before = d.frames.messages();
  std::size_t followed = d.frames.consume(data, size);
  count_messages(d, before);
  return followed;
}

void Tunnel::count_messages(Direction& d, uint64_t before) {
  if (uint64_t completed = d.frames.messages() - before) d.counters.listener_messages->inc(completed);
}

void Tunnel::count_read(Direction& d, std::size_t bytes) {
  d.bytes += bytes;
  d.counters.listener_bytes->inc(bytes);
  d.counters.cluster_bytes->inc(bytes);
  last_activity_ = d.src.loop().now();
}

void Tunnel::wait(Direction& d, network::Stream& stream, network::Io want, std::shared_ptr<void> keep_alive) {
  d.waiting_to_read = &stream == &d.src && d.pending_size == 0 && d.in_pipe == 0;
  stream.async_wait(want, [this, &d, token = ++d.wait_token, keep_alive = std::move(keep_alive)](
                              const boost::system::error_code& ec) mutable {
    if (ec || stopped_ || token != d.wait_token) return;
    d.waiting_to_read = false;
    run(d, std::move(keep_alive));
  });
}

void Tunnel::run(Direction& d, std::shared_ptr<void> keep_alive) {
  using network::Io;
  for (int rounds = 0;; ++rounds) {
    if (stopped_) return;
    // What was read goes out first: buffered bytes, or spliced ones (a
    // direction never holds both).
    if (d.pending_size > 0 || d.in_pipe > 0) {
      bool buffered = d.pending_size > 0;
      network::IoResult w = buffered ? d.dst.write_some(d.pending, d.pending_size)
                                     : d.dst.splice_from_pipe(d.pipe.read, d.in_pipe);
      if (w.status == Io::done) {
        if (buffered) {
          d.pending += w.bytes;
          d.pending_size -= w.bytes;
          if (d.pending_size == 0 && !d.extra.empty()) std::string().swap(d.extra);
        } else {
          d.in_pipe -= w.bytes;
        }
        continue;
      }
      if (w.status == Io::want_read || w.status == Io::want_write) return wait(d, d.dst, w.status, std::move(keep_alive));
      stopped_ = true;
      return observer_.on_stream_error(d.from == Side::client ? Side::upstream : Side::client, d.dst.error_text());
    }
    std::size_t want = network::BufferPool::kBufferSize;
    if (d.closing == Closing::to_boundary) {
      if (d.frames.at_boundary()) {
        // Frames from the client to the upstream must be masked.
        queue(d, websocket::close_frame(close_code_, close_reason_, d.from == Side::client,
                                        d.from == Side::client ? mask_key() : 0));
        d.closing = Closing::close_sent;
        continue;
      }
      // Read no further than the frame in flight, then stop at its end.
      want = std::min<uint64_t>(want, d.frames.bytes_in_current_frame());
    } else if (d.closing == Closing::close_sent) {
      // The close frame is out: half-close, then read and drop until the
      // peer ends its side.
      d.dst.shutdown_write();
      d.closing = Closing::draining;
    }
    if (rounds >= kRoundsPerWake) {
      // Let other connections on this worker run before reading more.
      d.src.loop().post([this, &d, keep_alive = std::move(keep_alive)]() mutable {
        if (!stopped_) run(d, std::move(keep_alive));
      });
      return;
    }
    // Payload whose length is known moves through a pipe; the rest, and
    // every frame header, through the buffer, where it is followed.
    bool spliced = plain_ && d.closing != Closing::draining && d.frames.payload_left() >= kSpliceAtLeast &&
                   !d.src.has_buffered_input() &&
                   (d.pipe || (d.pipe = pipes_.acquire()));
    network::IoResult r;
    if (spliced) {
      if (d.buffer) buffers_.release(std::move(d.buffer));
      r = d.src.splice_to_pipe(d.pipe.write, std::min(d.frames.payload_left(), kPipeBytes));
    } else {
      if (!d.buffer) d.buffer = buffers_.acquire();
      r = d.src.read_some(d.buffer.get(), want);
    }
    switch (r.status) {
      case Io::done:
        if (spliced) {
          count_read(d, r.bytes);
          uint64_t before = d.frames.messages();
          d.frames.skip(r.bytes);
          count_messages(d, before);
          d.in_pipe = r.bytes;
          continue;
        }
        // Decrypted TLS records already in hand join this buffer, so one
        // write carries them all.
        while (r.bytes < want && d.src.has_buffered_input()) {
          network::IoResult more = d.src.read_some(d.buffer.get() + r.bytes, want - r.bytes);
          if (more.status != Io::done) break;
          r.bytes += more.bytes;
        }
        count_read(d, r.bytes);
        if (d.closing == Closing::draining) continue;
        {
          d.pending = d.buffer.get();
          d.pending_size = follow(d, d.buffer.get(), r.bytes);
          if (d.frames.over_limit()) {
            // Relay what came before the offending frame; the observer
            // then ends the WebSocket (close_with), or it cannot.
            bool at_boundary = d.frames.at_boundary();
            if (!at_boundary) stopped_ = true;
            observer_.on_message_too_big(d.from, at_boundary);
          }
        }
        continue;
      case Io::want_read:
      case Io::want_write:
        release_buffers(d);
        return wait(d, d.src, r.status, std::move(keep_alive));
      case Io::eof:
        release_buffers(d);
        if (close_handshake_done(d) && plain_) {
          // Closing both sides now saves passing the half-close on and
          // waiting for the other side's. Not with TLS: each side is owed
          // a close_notify, and its own may be on its way (closing a
          // socket with unread bytes resets the connection).
          stopped_ = true;
          return observer_.on_closed_after_handshake(d.from);
        }
        if (d.closing != Closing::draining) d.dst.shutdown_write();
        return observer_.on_end_of_stream(d.from);
      case Io::error:
        stopped_ = true;
        return observer_.on_stream_error(d.from, d.src.error_text());
    }
  }
}

}  // namespace wsproxy::proxy

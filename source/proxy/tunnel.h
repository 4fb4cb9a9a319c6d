// Tunnel mode: after the 101, bytes flow both ways unparsed. Each direction
// reads into one fixed buffer and reads again only when the previous write
// has completed (backpressure); the buffer comes from the worker's pool only
// while data is in flight. An end of stream is passed on as a half-close.
// Frame headers are followed (not buffered) to count messages and to find
// a boundary where a close frame can be put in when the proxy ends the
// connection itself. Between plain sockets, the payload of a large frame,
// whose length its header gave, is spliced through a pipe instead: moved
// by the kernel without a copy through the buffer.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "source/network/buffer_pool.h"
#include "source/network/pipe_pool.h"
#include "source/network/stream.h"
#include "source/stats/stats.h"
#include "source/websocket/frame_tracker.h"

namespace wsproxy::proxy {

enum class Side { client, upstream };

class Tunnel {
 public:
  class Observer {
   public:
    virtual ~Observer() = default;
    // `from` ended its stream cleanly; the other side was sent a half-close.
    virtual void on_end_of_stream(Side from) = 0;
    // `from` ended its stream after the close handshake had completed (a
    // close frame relayed each way, all written) and neither side is
    // TLS: nothing more can be relayed, the tunnel has stopped, and
    // both sides can be closed now, as the WebSocket server would (RFC 6455
    // 7.1.1).
    virtual void on_closed_after_handshake(Side from) = 0;
    // A read from or write to `side` failed; the tunnel has stopped.
    virtual void on_stream_error(Side side, const std::string& error) = 0;
    // A message from `from` passed the size limit. What came before its
    // offending frame is relayed and nothing after. If `at_boundary`, the
    // stream can be ended with a close frame; if not (the frame's header
    // was split across reads and partly relayed), the tunnel has stopped.
    virtual void on_message_too_big(Side from, bool at_boundary) = 0;
  };

  // What one direction adds to as it reads.
  struct Counters {
    stats::Counter* listener_bytes;
    stats::Counter* cluster_bytes;
    stats::Counter* listener_messages;
  };

  // Messages from the client are limited to `max_message_bytes` (0: no
  // limit); the upstream is trusted.
  Tunnel(network::Stream& client, network::Stream& upstream, network::BufferPool& buffers, network::PipePool& pipes,
         Observer& observer, Counters from_client, Counters from_upstream, uint64_t max_message_bytes);
  ~Tunnel();

  // Starts both directions. `keep_alive` owns the tunnel's owner and is
  // held by every pending operation. `to_client` is written first: the 101,
  // then from `websocket_from` on the WebSocket bytes the upstream sent
  // with it. `from_client` are WebSocket bytes the client sent with its
  // request, already relayed. Frame tracking starts with both.
  void start(std::shared_ptr<void> keep_alive, std::string to_client, std::size_t websocket_from,
             std::string_view from_client);
  // Ends the WebSocket from the proxy: each direction relays up to the end
  // of the frame in flight, then sends a close frame with `code` and
  // `reason` (to both sides) and a half-close, and then only reads until
  // the peer closes (on_end_of_stream).
  void close_with(const std::shared_ptr<void>& keep_alive, uint16_t code, const std::string& reason);
  // No further reads or writes; pending waits end when the streams close.
  void stop() { stopped_ = true; }

  std::chrono::steady_clock::time_point last_activity() const { return last_activity_; }
  uint64_t bytes_from_client() const { return to_upstream_.bytes; }
  uint64_t bytes_to_client() const { return to_client_.bytes; }
  uint64_t messages_from_client() const { return to_upstream_.frames.messages(); }
  uint64_t messages_to_client() const { return to_client_.frames.messages(); }

 private:
  // Where a direction is in ending the WebSocket from the proxy.
  enum class Closing { no, to_boundary, close_sent, draining };
  struct Direction {
    Direction(Side from_side, network::Stream& source, network::Stream& destination, Counters read_counters,
              uint64_t max_message_bytes)
        : from(from_side), src(source), dst(destination), counters(read_counters), frames(max_message_bytes) {}

    Side from;
    network::Stream& src;
    network::Stream& dst;
    Counters counters;
    std::unique_ptr<char[]> buffer;
    std::string extra;              // bytes written before or instead of reads: the 101, a close frame
    const char* pending = nullptr;  // unwritten bytes, in buffer or extra
    std::size_t pending_size = 0;
    network::Pipe pipe;             // held while spliced bytes are in it
    std::size_t in_pipe = 0;        // spliced from src, not yet into dst
    uint64_t bytes = 0;             // read from src
    websocket::FrameTracker frames;
    Closing closing = Closing::no;
    bool waiting_to_read = false;   // parked on src readability with nothing pending
    uint64_t wait_token = 0;        // a wait whose token is stale is ignored
  };

  void run(Direction& d, std::shared_ptr<void> keep_alive);
  void wait(Direction& d, network::Stream& stream, network::Io want, std::shared_ptr<void> keep_alive);
  // Gives back the buffer, and the pipe if empty: the direction is idle.
  void release_buffers(Direction& d);
  void count_read(Direction& d, std::size_t bytes);
  void queue(Direction& d, std::string bytes);
  // True when `ended` has just seen its end of stream and nothing more can
  // be relayed either way.
  bool close_handshake_done(const Direction& ended) const;
  // Follows bytes relayed in `d`, counting the messages they complete;
  // returns how many may be relayed (see FrameTracker::consume).
  std::size_t follow(Direction& d, const char* data, std::size_t size);
  // Adds the messages `d`'s tracker completed since it counted `before`.
  void count_messages(Direction& d, uint64_t before);

  network::BufferPool& buffers_;
  network::PipePool& pipes_;
  const bool plain_;  // neither stream is TLS: splicing and the close shortcut apply
  Observer& observer_;
  Direction to_upstream_;
  Direction to_client_;
  bool stopped_ = false;
  std::string close_reason_;
  uint16_t close_code_ = 0;
  std::chrono::steady_clock::time_point last_activity_;
};

}  // namespace wsproxy::proxy

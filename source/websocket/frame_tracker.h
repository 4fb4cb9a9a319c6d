// Follows WebSocket frame boundaries (RFC 6455 section 5.2) in a relayed
// byte stream without buffering it: only frame headers are looked at. The
// tunnel uses it to count messages and to find a frame boundary where a
// close frame can be put into the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsproxy::websocket {

class FrameTracker {
 public:
  // `max_message_bytes` limits one message: its data frames' payloads
  // together (0: no limit).
  explicit FrameTracker(uint64_t max_message_bytes = 0) : max_message_bytes_(max_message_bytes) {}

  // Follows up to `size` more bytes of the stream and returns how many it
  // took: all of them, unless a frame header puts its message past the
  // limit. Then over_limit() is true, the stream is followed no further,
  // and the bytes from that header on are not to be relayed; if the header
  // began in an earlier call (its first bytes already relayed), the stream
  // cannot be ended cleanly and at_boundary() stays false.
  std::size_t consume(const char* data, std::size_t size);
  bool over_limit() const { return over_limit_; }
  // True between frames (nothing of a frame seen but not all of it).
  bool at_boundary() const { return !in_payload_ && header_have_ == 0; }
  // Bytes that certainly belong to the current frame: the rest of its
  // payload, or of its header while that is incomplete. 0 at a boundary.
  uint64_t bytes_in_current_frame() const;
  // Payload bytes of the current frame still to come (0 between frames or
  // inside a header): bytes that may be relayed unseen, through skip().
  uint64_t payload_left() const { return in_payload_ ? payload_left_ : 0; }
  // Follows `size` (at most payload_left()) payload bytes without seeing
  // them.
  void skip(uint64_t size);
  // Messages completed so far: data frames with the FIN bit.
  uint64_t messages() const { return messages_; }
  // True once a whole close frame has gone by: this side's WebSocket is
  // closing, and nothing may follow.
  bool close_seen() const { return close_seen_; }

 private:
  void end_frame();

  uint8_t header_[14] = {};
  uint8_t header_have_ = 0;
  uint8_t header_need_ = 2;
  bool in_payload_ = false;
  uint64_t payload_left_ = 0;
  uint64_t messages_ = 0;
  const uint64_t max_message_bytes_;
  uint64_t message_bytes_ = 0;  // payload of the message in progress so far
  bool over_limit_ = false;
  bool close_seen_ = false;
};

// A close frame carrying `code` and `reason` (cut to fit the 125-byte
// control frame limit on a UTF-8 boundary). Frames a client sends must be
// masked (`mask_key`); a server's are not.
std::string close_frame(uint16_t code, std::string_view reason, bool masked, uint32_t mask_key = 0);

// True for codes an endpoint may send (RFC 6455 7.4: 1000-1003, 1007-1014,
// 3000-4999).
bool is_sendable_close_code(uint32_t code);

}  // namespace wsproxy::websocket

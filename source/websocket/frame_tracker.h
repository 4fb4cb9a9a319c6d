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
  // Follows `size` more bytes of the stream.
  void consume(const char* data, std::size_t size);
  // True between frames (nothing of a frame seen but not all of it).
  bool at_boundary() const { return !in_payload_ && header_have_ == 0; }
  // Bytes that certainly belong to the current frame: the rest of its
  // payload, or of its header while that is incomplete. 0 at a boundary.
  uint64_t bytes_in_current_frame() const;
  // Messages completed so far: data frames with the FIN bit.
  uint64_t messages() const { return messages_; }

 private:
  void end_frame();

  uint8_t header_[14] = {};
  uint8_t header_have_ = 0;
  uint8_t header_need_ = 2;
  bool in_payload_ = false;
  uint64_t payload_left_ = 0;
  uint64_t messages_ = 0;
};

// A close frame carrying `code` and `reason` (cut to fit the 125-byte
// control frame limit on a UTF-8 boundary). Frames a client sends must be
// masked (`mask_key`); a server's are not.
std::string close_frame(uint16_t code, std::string_view reason, bool masked, uint32_t mask_key = 0);

// True for codes an endpoint may send (RFC 6455 7.4: 1000-1003, 1007-1014,
// 3000-4999).
bool is_sendable_close_code(uint32_t code);

}  // namespace wsproxy::websocket

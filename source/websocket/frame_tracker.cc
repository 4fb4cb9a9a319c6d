// WebSocket frame boundaries and close frames.
#include "source/websocket/frame_tracker.h"

#include <algorithm>

namespace wsproxy::websocket {

std::size_t FrameTracker::consume(const char* data, std::size_t size) {
  const char* const start = data;
  const char* header_start = header_have_ == 0 ? data : nullptr;  // null: begun in an earlier call
  while (size > 0 && !over_limit_) {
    if (in_payload_) {
      uint64_t take = std::min<uint64_t>(size, payload_left_);
      payload_left_ -= take;
      data += take;
      size -= take;
      if (payload_left_ == 0) end_frame();
      continue;
    }
    if (header_have_ == 0) header_start = data;
    header_[header_have_++] = static_cast<uint8_t>(*data++);
    --size;
    if (header_have_ == 2) {
      uint8_t length7 = header_[1] & 0x7F;
      header_need_ = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
    }
    if (header_have_ < header_need_) continue;
    uint8_t length7 = header_[1] & 0x7F;
    uint64_t length = length7;
    if (length7 == 126) length = (uint64_t{header_[2]} << 8) | header_[3];
    if (length7 == 127) {
      length = 0;
      for (int i = 2; i < 10; ++i) length = (length << 8) | header_[i];
    }
    uint8_t opcode = header_[0] & 0x0F;
    if (opcode < 0x8) {  // a data frame: a new message, or a continuation (opcode 0)
      if (opcode != 0) message_bytes_ = 0;
      message_bytes_ += length;
      if (max_message_bytes_ != 0 && message_bytes_ > max_message_bytes_) {
        over_limit_ = true;
        if (header_start == nullptr) return static_cast<std::size_t>(data - start);
        header_have_ = 0;  // back at the boundary before this frame
        header_need_ = 2;
        return static_cast<std::size_t>(header_start - start);
      }
    }
    in_payload_ = true;
    payload_left_ = length;
    if (payload_left_ == 0) end_frame();
  }
  return static_cast<std::size_t>(data - start);
}

void FrameTracker::skip(uint64_t size) {
  payload_left_ -= size;
  if (payload_left_ == 0) end_frame();
}

void FrameTracker::end_frame() {
  bool fin = header_[0] & 0x80;
  uint8_t opcode = header_[0] & 0x0F;
  if (fin && opcode < 0x8) ++messages_;
  if (opcode == 0x8) close_seen_ = true;
  in_payload_ = false;
  header_have_ = 0;
  header_need_ = 2;
}

uint64_t FrameTracker::bytes_in_current_frame() const {
  if (in_payload_) return payload_left_;
  return header_have_ == 0 ? 0 : header_need_ - header_have_;
}

std::string close_frame(uint16_t code, std::string_view reason, bool masked, uint32_t mask_key) {
  // 125 bytes of payload at most: the code, then the reason.
  std::size_t cut = std::min<std::size_t>(reason.size(), 123);
  while (cut > 0 && cut < reason.size() && (static_cast<uint8_t>(reason[cut]) & 0xC0) == 0x80) --cut;
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload.append(reason.substr(0, cut));
  std::string frame;
  frame += static_cast<char>(0x88);  // FIN, opcode 8 (close)
  frame += static_cast<char>((masked ? 0x80 : 0) | payload.size());
  if (masked) {
    char key[4] = {static_cast<char>(mask_key >> 24), static_cast<char>(mask_key >> 16),
                   static_cast<char>(mask_key >> 8), static_cast<char>(mask_key)};
    frame.append(key, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
  }
  frame += payload;
  return frame;
}

bool is_sendable_close_code(uint32_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

}  // namespace wsproxy::websocket

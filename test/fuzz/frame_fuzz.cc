// libFuzzer target: following WebSocket frame boundaries over any bytes,
// split anywhere, and building close frames from any reason.
#include <cstddef>
#include <cstdint>

#include "source/websocket/frame_tracker.h"

using wsproxy::websocket::FrameTracker;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char* bytes = reinterpret_cast<const char*>(data);
  // The first byte picks a chunk size and a message size limit (0: none):
  // the tracker must agree with itself whatever the split.
  size_t chunk = 1 + data[0] % 64;
  uint64_t limit = (data[0] >> 6) * 300;
  FrameTracker whole(limit), pieces(limit);
  size_t taken_whole = whole.consume(bytes + 1, size - 1);
  size_t taken_pieces = 0;
  for (size_t i = 1; i < size; i += chunk) taken_pieces += pieces.consume(bytes + i, std::min(chunk, size - i));
  if (taken_whole > size - 1 || whole.over_limit() != pieces.over_limit()) __builtin_trap();
  if (!whole.over_limit() && taken_whole != size - 1) __builtin_trap();
  if (whole.over_limit()) {
    // Stopped in one call: always cleanly, before the offending header. In
    // pieces, cleanly at the same place unless that header was split.
    if (!whole.at_boundary() || limit == 0) __builtin_trap();
    if (pieces.at_boundary() && taken_pieces != taken_whole) __builtin_trap();
  } else if (whole.messages() != pieces.messages() || whole.at_boundary() != pieces.at_boundary() ||
             whole.bytes_in_current_frame() != pieces.bytes_in_current_frame()) {
    __builtin_trap();
  }
  if (whole.at_boundary() != (whole.bytes_in_current_frame() == 0)) __builtin_trap();
  std::string_view reason(bytes, size);
  for (bool masked : {false, true}) {
    std::string frame = wsproxy::websocket::close_frame(static_cast<uint16_t>(1000 + data[0]), reason, masked, 0xA5A5A5A5);
    if (frame.size() > 2 + 4 + 125) __builtin_trap();
    FrameTracker tracker;
    tracker.consume(frame.data(), frame.size());
    if (!tracker.at_boundary() || tracker.messages() != 0) __builtin_trap();
  }
  return 0;
}

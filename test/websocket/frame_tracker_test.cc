// Tests of frame boundary tracking and close frames.
#include "source/websocket/frame_tracker.h"

#include <gtest/gtest.h>

namespace wsproxy::websocket {
namespace {

std::string frame(uint8_t first, uint64_t length, bool masked) {
  std::string f;
  f += static_cast<char>(first);
  uint8_t mask_bit = masked ? 0x80 : 0;
  if (length < 126) {
    f += static_cast<char>(mask_bit | length);
  } else if (length < 65536) {
    f += static_cast<char>(mask_bit | 126);
    f += static_cast<char>(length >> 8);
    f += static_cast<char>(length & 0xFF);
  } else {
    f += static_cast<char>(mask_bit | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((length >> (8 * i)) & 0xFF);
  }
  if (masked) f += std::string("\x01\x02\x03\x04", 4);
  f += std::string(length, 'x');
  return f;
}

TEST(FrameTrackerTest, CountsMessagesAcrossAnySplit) {
  // A text message, a binary one split in three fragments with a ping
  // between, a 70000-byte message and an empty one.
  std::string stream = frame(0x81, 5, true) + frame(0x02, 10, true) + frame(0x89, 4, true) + frame(0x00, 10, true) +
                       frame(0x80, 3, true) + frame(0x82, 70000, true) + frame(0x81, 0, false) + frame(0x82, 300, false);
  for (std::size_t chunk : {1ul, 2ul, 3ul, 7ul, 4096ul, stream.size()}) {
    FrameTracker tracker;
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      tracker.consume(stream.data() + i, std::min(chunk, stream.size() - i));
    }
    EXPECT_EQ(tracker.messages(), 5u) << chunk;
    EXPECT_TRUE(tracker.at_boundary()) << chunk;
  }
}

TEST(FrameTrackerTest, KnowsHowFarTheCurrentFrameGoes) {
  std::string f = frame(0x82, 1000, false);  // 4-byte header
  FrameTracker tracker;
  EXPECT_TRUE(tracker.at_boundary());
  EXPECT_EQ(tracker.bytes_in_current_frame(), 0u);
  tracker.consume(f.data(), 1);
  EXPECT_FALSE(tracker.at_boundary());
  EXPECT_EQ(tracker.bytes_in_current_frame(), 1u);  // the second header byte, at least
  tracker.consume(f.data() + 1, 1);
  EXPECT_EQ(tracker.bytes_in_current_frame(), 2u);  // the 16-bit length
  tracker.consume(f.data() + 2, 2);
  EXPECT_EQ(tracker.bytes_in_current_frame(), 1000u);
  tracker.consume(f.data() + 4, 999);
  EXPECT_EQ(tracker.bytes_in_current_frame(), 1u);
  tracker.consume(f.data() + 1003, 1);
  EXPECT_TRUE(tracker.at_boundary());
}

TEST(FrameTrackerTest, SeesACloseFrameOnlyOnceItIsWhole) {
  std::string stream = frame(0x81, 5, true) + frame(0x89, 2, true) + frame(0x88, 2, true);
  FrameTracker tracker;
  tracker.consume(stream.data(), stream.size() - 1);
  EXPECT_FALSE(tracker.close_seen());  // a ping is not a close; the close lacks a byte
  tracker.consume(stream.data() + stream.size() - 1, 1);
  EXPECT_TRUE(tracker.close_seen());
}

TEST(FrameTrackerTest, SkippedPayloadIsFollowedLikeSeenPayload) {
  std::string big = frame(0x82, 70000, true);
  std::string next = frame(0x81, 3, true);
  FrameTracker tracker;
  tracker.consume(big.data(), 100);  // the 14-byte header and 86 payload bytes
  EXPECT_EQ(tracker.payload_left(), 70000u - 86u);
  tracker.skip(40000);
  EXPECT_EQ(tracker.payload_left(), 70000u - 86u - 40000u);
  EXPECT_EQ(tracker.messages(), 0u);
  tracker.skip(tracker.payload_left());
  EXPECT_EQ(tracker.messages(), 1u);
  EXPECT_TRUE(tracker.at_boundary());
  EXPECT_EQ(tracker.payload_left(), 0u);
  tracker.consume(next.data(), 2);  // inside a header: nothing to skip
  EXPECT_EQ(tracker.payload_left(), 0u);
}

TEST(FrameTrackerTest, StopsBeforeTheFrameThatPutsAMessagePastTheLimit) {
  // 600 and 400 bytes in two fragments with a ping between: 1000 in all.
  std::string first = frame(0x02, 600, true) + frame(0x89, 4, true);
  std::string stream = first + frame(0x80, 400, true) + frame(0x81, 5, true);
  FrameTracker fits(1000);
  EXPECT_EQ(fits.consume(stream.data(), stream.size()), stream.size());
  EXPECT_FALSE(fits.over_limit());
  EXPECT_EQ(fits.messages(), 2u);

  FrameTracker over(999);
  EXPECT_EQ(over.consume(stream.data(), stream.size()), first.size());
  EXPECT_TRUE(over.over_limit());
  EXPECT_TRUE(over.at_boundary());  // the close frame can go right after `first`
  EXPECT_EQ(over.consume(stream.data(), stream.size()), 0u);  // followed no further
}

TEST(FrameTrackerTest, AnOversizedHeaderSplitAcrossReadsCannotEndCleanly) {
  std::string f = frame(0x82, 70000, true);  // 14-byte header
  FrameTracker tracker(65536);
  EXPECT_EQ(tracker.consume(f.data(), 5), 5u);
  EXPECT_FALSE(tracker.over_limit());
  EXPECT_EQ(tracker.consume(f.data() + 5, 100), 9u);  // to the end of the header
  EXPECT_TRUE(tracker.over_limit());
  EXPECT_FALSE(tracker.at_boundary());
}

TEST(FrameTrackerTest, EachMessageIsMeasuredOnItsOwn) {
  std::string stream;
  for (int i = 0; i < 10; ++i) stream += frame(0x82, 900, false);
  FrameTracker tracker(1000);
  EXPECT_EQ(tracker.consume(stream.data(), stream.size()), stream.size());
  EXPECT_FALSE(tracker.over_limit());
  EXPECT_EQ(tracker.messages(), 10u);
}

TEST(CloseFrameTest, ServerFramesAreUnmaskedAndCarryCodeAndReason) {
  std::string f = close_frame(1001, "going away", false);
  ASSERT_EQ(f.size(), 2u + 2 + 10);
  EXPECT_EQ(static_cast<uint8_t>(f[0]), 0x88);
  EXPECT_EQ(static_cast<uint8_t>(f[1]), 12);
  EXPECT_EQ(static_cast<uint8_t>(f[2]), 0x03);
  EXPECT_EQ(static_cast<uint8_t>(f[3]), 0xE9);
  EXPECT_EQ(f.substr(4), "going away");
}

TEST(CloseFrameTest, ClientFramesAreMasked) {
  std::string f = close_frame(1000, "ok", true, 0x11223344);
  ASSERT_EQ(f.size(), 2u + 4 + 4);
  EXPECT_EQ(static_cast<uint8_t>(f[1]), 0x80 | 4);
  const char key[4] = {0x11, 0x22, 0x33, 0x44};
  std::string payload = f.substr(6);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
  EXPECT_EQ(payload, std::string("\x03\xE8ok", 4));
  FrameTracker tracker;
  tracker.consume(f.data(), f.size());
  EXPECT_TRUE(tracker.at_boundary());
  EXPECT_EQ(tracker.messages(), 0u);  // control frames are not messages
}

TEST(CloseFrameTest, LongReasonsAreCutOnACharacterBoundary) {
  std::string reason;
  for (int i = 0; i < 100; ++i) reason += "\xc3\xa9";  // 200 bytes of é
  std::string f = close_frame(4000, reason, false);
  EXPECT_LE(f.size(), 2u + 125);
  EXPECT_EQ((f.size() - 4) % 2, 0u);
}

TEST(CloseCodeTest, OnlySendableCodes) {
  EXPECT_TRUE(is_sendable_close_code(1000));
  EXPECT_TRUE(is_sendable_close_code(1001));
  EXPECT_TRUE(is_sendable_close_code(1008));
  EXPECT_TRUE(is_sendable_close_code(4999));
  EXPECT_FALSE(is_sendable_close_code(1005));
  EXPECT_FALSE(is_sendable_close_code(1006));
  EXPECT_FALSE(is_sendable_close_code(1015));
  EXPECT_FALSE(is_sendable_close_code(2999));
  EXPECT_FALSE(is_sendable_close_code(5000));
}

}  // namespace
}  // namespace wsproxy::websocket

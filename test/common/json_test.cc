// Tests of JSON string escaping for log lines.
#include "source/common/json.h"

#include <gtest/gtest.h>

namespace wsproxy::json {
namespace {

std::string as_json(std::string_view s) {
  std::string out;
  append_string(out, s);
  return out;
}

TEST(JsonStringTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(as_json("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(as_json(std::string("\n\r\t\0\x7f", 5)), R"("\u000a\u000d\u0009\u0000\u007f")");
}

TEST(JsonStringTest, KeepsValidUtf8AndEscapesInvalidBytes) {
  EXPECT_EQ(as_json("caf\xc3\xa9 \xf0\x9d\x84\x9e"), "\"caf\xc3\xa9 \xf0\x9d\x84\x9e\"");
  EXPECT_EQ(as_json("\xff\xc3"), R"("\u00ff\u00c3")");
  EXPECT_EQ(as_json("\xc0\xaf"), R"("\u00c0\u00af")");          // overlong
  EXPECT_EQ(as_json("\xed\xa0\x80"), R"("\u00ed\u00a0\u0080")");  // surrogate
}

}  // namespace
}  // namespace wsproxy::json

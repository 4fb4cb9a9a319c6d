// Tests of the error answers wsproxy writes itself.
#include "source/http/response.h"

#include <gtest/gtest.h>

namespace wsproxy::http {
namespace {

TEST(ErrorResponseTest, HasStatusHeadersLengthAndBody) {
  std::string out = error_response(426, "send a WebSocket upgrade", {{"Sec-WebSocket-Version", "13"}});
  EXPECT_EQ(out,
            "HTTP/1.1 426 Upgrade Required\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 25\r\n"
            "Connection: close\r\n"
            "\r\n"
            "send a WebSocket upgrade\n");
}

TEST(ErrorResponseTest, KnowsTheReasonPhrasesItUses) {
  for (int status : {400, 404, 408, 426, 431, 502, 503, 504}) {
    EXPECT_NE(reason_phrase(status), "Error") << status;
  }
  EXPECT_EQ(reason_phrase(599), "Error");
}

}  // namespace
}  // namespace wsproxy::http

// HTTP/1.1 message heads (request line or status line, and header fields)
// and their strict parsers. Bodies are never part of a WebSocket upgrade.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "source/http/headers.h"

namespace wsproxy::http {

struct RequestHead {
  std::string method;
  std::string target;
  int version_minor = 1;  // HTTP/1.x
  HeaderMap headers;
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  int version_minor = 1;
  HeaderMap headers;
};

// At most this many header fields; more is answered like an oversized head.
constexpr std::size_t kMaxHeaderCount = 100;

enum class ParseError { none, malformed, too_many_headers };

struct ParseProblem {
  ParseError error = ParseError::none;
  std::string detail;  // for the log line
};

// The index just past the "\r\n\r\n" that ends a head within `data`, or 0 if
// there is none yet. `from` skips bytes already searched.
std::size_t find_head_end(std::string_view data, std::size_t from);

// `head` is a complete head, ending with "\r\n\r\n". Lines must end with
// CRLF; field names are tokens with no space before the colon; values hold
// no control characters (NUL, bare CR or LF); folded lines are refused.
std::optional<RequestHead> parse_request_head(std::string_view head, ParseProblem& problem);
std::optional<ResponseHead> parse_response_head(std::string_view head, ParseProblem& problem);

}  // namespace wsproxy::http

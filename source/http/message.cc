// Strict HTTP/1.1 head parsing (RFC 9112 section 2 to 5).
#include "source/http/message.h"

namespace wsproxy::http {
namespace {

bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// VCHAR, SP, HTAB and obs-text; no other control characters.
bool is_field_value(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits `head` into lines at CRLF; a bare CR or LF is malformed.
class LineReader {
 public:
  explicit LineReader(std::string_view head) : rest_(head) {}
  // The next line without its CRLF; false at the end or on a bad line end.
  bool next(std::string_view& line, ParseProblem& problem) {
    auto crlf = rest_.find("\r\n");
    if (crlf == std::string_view::npos) return false;
    line = rest_.substr(0, crlf);
    rest_.remove_prefix(crlf + 2);
    // Two scans, not find_first_of: that looks each byte up in the set.
    if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) {
      problem = {ParseError::malformed, "a line ends with a bare CR or LF"};
      return false;
    }
    return true;
  }

 private:
  std::string_view rest_;
};

bool parse_version(std::string_view v, int& minor) {
  if (v == "HTTP/1.1") {
    minor = 1;
    return true;
  }
  if (v == "HTTP/1.0") {
    minor = 0;
    return true;
  }
  return false;
}

bool parse_fields(LineReader& lines, HeaderMap& headers, ParseProblem& problem) {
  std::string_view line;
  while (lines.next(line, problem)) {
    if (line.empty()) return true;
    if (line.front() == ' ' || line.front() == '\t') {
      problem = {ParseError::malformed, "folded header lines are not allowed"};
      return false;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      problem = {ParseError::malformed, "a header line has no valid field name"};
      return false;
    }
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_field_value(value)) {
      problem = {ParseError::malformed, "header \"" + std::string(line.substr(0, colon)) +
                                            "\" has a control character in its value"};
      return false;
    }
    if (headers.size() == kMaxHeaderCount) {
      problem = {ParseError::too_many_headers, "more than " + std::to_string(kMaxHeaderCount) + " header fields"};
      return false;
    }
    headers.add(std::string(line.substr(0, colon)), std::string(value));
  }
  if (problem.error == ParseError::none) problem = {ParseError::malformed, "the head does not end with an empty line"};
  return false;
}

}  // namespace

std::size_t find_head_end(std::string_view data, std::size_t from) {
  from = from >= 3 ? from - 3 : 0;
  auto pos = data.find("\r\n\r\n", from);
  return pos == std::string_view::npos ? 0 : pos + 4;
}

std::optional<RequestHead> parse_request_head(std::string_view head, ParseProblem& problem) {
  LineReader lines(head);
  std::string_view line;
  if (!lines.next(line, problem)) {
    if (problem.error == ParseError::none) problem = {ParseError::malformed, "no request line"};
    return std::nullopt;
  }
  RequestHead request;
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    problem = {ParseError::malformed, "the request line is not \"METHOD TARGET VERSION\""};
    return std::nullopt;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) {
    problem = {ParseError::malformed, "the method is not a token"};
    return std::nullopt;
  }
  if (target.empty()) {
    problem = {ParseError::malformed, "the request target is empty"};
    return std::nullopt;
  }
  if (!parse_version(version, request.version_minor)) {
    problem = {ParseError::malformed, "unsupported HTTP version"};
    return std::nullopt;
  }
  request.method = std::string(method);
  request.target = std::string(target);
  if (!parse_fields(lines, request.headers, problem)) return std::nullopt;
  return request;
}

std::optional<ResponseHead> parse_response_head(std::string_view head, ParseProblem& problem) {
  LineReader lines(head);
  std::string_view line;
  if (!lines.next(line, problem)) {
    if (problem.error == ParseError::none) problem = {ParseError::malformed, "no status line"};
    return std::nullopt;
  }
  ResponseHead response;
  // "HTTP/1.1 101 Switching Protocols"; the reason may be empty.
  if (line.size() < 12 || line[8] != ' ' || !parse_version(line.substr(0, 8), response.version_minor) ||
      (line.size() > 12 && line[12] != ' ')) {
    problem = {ParseError::malformed, "the status line is not \"HTTP/1.x CODE REASON\""};
    return std::nullopt;
  }
  int status = 0;
  for (char c : line.substr(9, 3)) {
    if (c < '0' || c > '9') {
      problem = {ParseError::malformed, "the status code is not three digits"};
      return std::nullopt;
    }
    status = status * 10 + (c - '0');
  }
  response.status = status;
  if (line.size() > 13) response.reason = std::string(line.substr(13));
  if (!is_field_value(response.reason)) {
    problem = {ParseError::malformed, "the reason phrase has a control character"};
    return std::nullopt;
  }
  if (!parse_fields(lines, response.headers, problem)) return std::nullopt;
  return response;
}

}  // namespace wsproxy::http

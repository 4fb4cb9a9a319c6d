// Header value templates: literal text with %VARIABLE% and %VARIABLE(arg)%
// parts expanded per connection.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "source/filter/filter.h"

namespace wsproxy::filters::header_rewrite {

class ValueTemplate {
 public:
  // Nothing, with `error` set, if the text has an unknown variable, an
  // unterminated %, or CR, LF or NUL.
  static std::optional<ValueTemplate> parse(std::string_view text, std::string& error);

  std::string expand(const filter::ConnectionInfo& connection, const filter::Attributes& attributes,
                     const http::HeaderMap& request_headers) const;

 private:
  enum class Kind { literal, client_ip, client_port, sni, client_cert_subject, listener, chain, request_header, jwt_claim };
  struct Piece {
    Kind kind;
    std::string text;  // the literal, the header name or the claim name
  };
  std::vector<Piece> pieces_;
};

// True if `value` holds CR, LF or NUL (never allowed in a header value).
bool has_forbidden_character(std::string_view value);

}  // namespace wsproxy::filters::header_rewrite

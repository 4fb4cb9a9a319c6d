// Header value templates.
#include "filters/header_rewrite/value_template.h"

namespace wsproxy::filters::header_rewrite {
namespace {

struct Variable {
  std::string_view name;
  bool takes_argument;
};

}  // namespace

bool has_forbidden_character(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::optional<ValueTemplate> ValueTemplate::parse(std::string_view text, std::string& error) {
  if (has_forbidden_character(text)) {
    error = "contains CR, LF or NUL";
    return std::nullopt;
  }
  ValueTemplate out;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) out.pieces_.push_back({Kind::literal, std::move(literal)});
    literal.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      literal += text[i];
      continue;
    }
    auto end = text.find('%', i + 1);
    if (end == std::string_view::npos) {
      error = "has a '%' that starts no variable (write %% for a literal %)";
      return std::nullopt;
    }
    std::string_view spec = text.substr(i + 1, end - i - 1);
    i = end;
    if (spec.empty()) {
      literal += '%';
      continue;
    }
    std::string_view name = spec, argument;
    auto paren = spec.find('(');
    if (paren != std::string_view::npos) {
      if (spec.back() != ')' || paren + 2 >= spec.size()) {
        error = "variable %" + std::string(spec) + "% needs an argument in parentheses";
        return std::nullopt;
      }
      name = spec.substr(0, paren);
      argument = spec.substr(paren + 1, spec.size() - paren - 2);
    }
    static const std::pair<Variable, Kind> kVariables[] = {
        {{"CLIENT_IP", false}, Kind::client_ip},
        {{"CLIENT_PORT", false}, Kind::client_port},
        {{"SNI", false}, Kind::sni},
        {{"CLIENT_CERT_SUBJECT", false}, Kind::client_cert_subject},
        {{"LISTENER", false}, Kind::listener},
        {{"CHAIN", false}, Kind::chain},
        {{"REQ", true}, Kind::request_header},
        {{"JWT_CLAIM", true}, Kind::jwt_claim},
    };
    bool known = false;
    for (const auto& [variable, kind] : kVariables) {
      if (variable.name != name) continue;
      if (variable.takes_argument != !argument.empty()) {
        error = "variable %" + std::string(spec) + "% " +
                (variable.takes_argument ? "needs an argument, as in %" + std::string(name) + "(name)%"
                                         : std::string("takes no argument"));
        return std::nullopt;
      }
      flush();
      out.pieces_.push_back({kind, std::string(argument)});
      known = true;
    }
    if (!known) {
      error = "unknown variable %" + std::string(spec) +
              "% (known: CLIENT_IP, CLIENT_PORT, SNI, CLIENT_CERT_SUBJECT, LISTENER, CHAIN, REQ(name), JWT_CLAIM(name))";
      return std::nullopt;
    }
  }
  flush();
  return out;
}

std::string ValueTemplate::expand(const filter::ConnectionInfo& connection, const filter::Attributes& attributes,
                                  const http::HeaderMap& request_headers) const {
  std::string out;
  for (const auto& piece : pieces_) {
    switch (piece.kind) {
      case Kind::literal: out += piece.text; break;
      case Kind::client_ip: out += connection.client_ip; break;
      case Kind::client_port: out += std::to_string(connection.client_port); break;
      case Kind::sni: out += connection.server_name; break;
      case Kind::client_cert_subject: out += connection.peer_subject; break;
      case Kind::listener: out += connection.listener; break;
      case Kind::chain: out += connection.chain; break;
      case Kind::request_header:
        if (const std::string* value = request_headers.get(piece.text)) out += *value;
        break;
      case Kind::jwt_claim:
        if (const std::string* value = attributes.get("jwt.claim." + piece.text)) out += *value;
        break;
    }
  }
  return out;
}

}  // namespace wsproxy::filters::header_rewrite

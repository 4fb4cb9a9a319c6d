// libFuzzer target: header_rewrite value templates, parsed from any text
// and expanded against any request header and claim values. A value that
// passes the config checks never expands into CR, LF or NUL unless a
// variable brought them in.
#include <cstddef>
#include <cstdint>
#include <string>

#include "filters/header_rewrite/value_template.h"

using namespace wsproxy;
using wsproxy::filters::header_rewrite::has_forbidden_character;
using wsproxy::filters::header_rewrite::ValueTemplate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  // The input is "template\0value" : the value fills every variable.
  auto split = input.find('\0');
  std::string text = input.substr(0, split);
  std::string value = split == std::string::npos ? "" : input.substr(split + 1);
  std::string error;
  auto parsed = ValueTemplate::parse(text, error);
  if (!parsed) return 0;
  if (has_forbidden_character(text)) __builtin_trap();
  filter::ConnectionInfo info;
  info.client_ip = value;
  info.server_name = value;
  info.peer_subject = value;
  info.listener = "l";
  info.chain = "c";
  filter::Attributes attributes;
  attributes.set("jwt.claim.sub", value);
  http::HeaderMap headers;
  headers.add("X-Input", value);
  std::string expanded = parsed->expand(info, attributes, headers);
  if (has_forbidden_character(expanded) && !has_forbidden_character(value)) __builtin_trap();
  return 0;
}

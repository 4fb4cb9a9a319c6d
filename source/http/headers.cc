// HTTP header fields.
#include "source/http/headers.h"

#include <algorithm>

namespace wsproxy::http {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

const std::string* HeaderMap::get(std::string_view name) const {
  for (const auto& h : headers_) {
    if (iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::size_t HeaderMap::count(std::string_view name) const {
  return std::count_if(headers_.begin(), headers_.end(), [&](const Header& h) { return iequals(h.name, name); });
}

template <typename Visit>
bool HeaderMap::visit_tokens(std::string_view name, Visit visit) const {
  for (const auto& h : headers_) {
    if (!iequals(h.name, name)) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string_view token = trim(rest.substr(0, comma));
      if (!token.empty() && visit(token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

std::vector<std::string_view> HeaderMap::tokens(std::string_view name) const {
  std::vector<std::string_view> out;
  visit_tokens(name, [&](std::string_view token) {
    out.push_back(token);
    return false;
  });
  return out;
}

bool HeaderMap::has_token(std::string_view name, std::string_view token) const {
  return visit_tokens(name, [&](std::string_view t) { return iequals(t, token); });
}

void HeaderMap::add(std::string name, std::string value) { headers_.push_back({std::move(name), std::move(value)}); }

void HeaderMap::set(std::string_view name, std::string value) {
  remove(name);
  headers_.push_back({std::string(name), std::move(value)});
}

void HeaderMap::remove(std::string_view name) {
  headers_.erase(std::remove_if(headers_.begin(), headers_.end(),
                                [&](const Header& h) { return iequals(h.name, name); }),
                 headers_.end());
}

}  // namespace wsproxy::http

// HTTP header fields in arrival order, with case-insensitive lookup.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace wsproxy::http {

bool iequals(std::string_view a, std::string_view b);

struct Header {
  std::string name;
  std::string value;
};

class HeaderMap {
 public:
  using const_iterator = std::vector<Header>::const_iterator;

  // The first value of `name`, or null.
  const std::string* get(std::string_view name) const;
  std::size_t count(std::string_view name) const;
  // True if a comma-separated token in any `name` field equals `token`
  // (case-insensitive), as in `Connection: keep-alive, Upgrade`.
  bool has_token(std::string_view name, std::string_view token) const;
  // Every comma-separated token of every `name` field, trimmed, in order.
  std::vector<std::string_view> tokens(std::string_view name) const;

  void add(std::string name, std::string value);
  // Replaces every `name` field by one with `value`.
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);

  const_iterator begin() const { return headers_.begin(); }
  const_iterator end() const { return headers_.end(); }
  std::size_t size() const { return headers_.size(); }

 private:
  // Calls `visit(token)` for each token of each `name` field until it
  // returns true; true if one did.
  template <typename Visit>
  bool visit_tokens(std::string_view name, Visit visit) const;

  std::vector<Header> headers_;
};

}  // namespace wsproxy::http

// Filter attributes.
#include "source/filter/filter.h"

namespace wsproxy::filter {

void Attributes::set(std::string name, std::string value) {
  for (auto& [n, v] : values_) {
    if (n == name) {
      v = std::move(value);
      return;
    }
  }
  values_.emplace_back(std::move(name), std::move(value));
}

const std::string* Attributes::get(std::string_view name) const {
  for (const auto& [n, v] : values_) {
    if (n == name) return &v;
  }
  return nullptr;
}

}  // namespace wsproxy::filter

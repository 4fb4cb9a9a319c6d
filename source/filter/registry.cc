// The filter registry.
#include "source/filter/registry.h"

#include <cstdio>
#include <cstdlib>
#include <map>

namespace wsproxy::filter {
namespace {

std::map<std::string, std::unique_ptr<FilterConfigFactory>, std::less<>>& factories() {
  static auto* registry = new std::map<std::string, std::unique_ptr<FilterConfigFactory>, std::less<>>();
  return *registry;
}

}  // namespace

bool register_filter(std::unique_ptr<FilterConfigFactory> factory) {
  std::string type(factory->config_type());
  if (!factories().emplace(type, std::move(factory)).second) {
    std::fprintf(stderr, "wsproxy bug: two filters register config type %s\n", type.c_str());
    std::abort();
  }
  return true;
}

const FilterConfigFactory* find_filter(std::string_view config_type) {
  auto it = factories().find(config_type);
  return it == factories().end() ? nullptr : it->second.get();
}

std::string registered_filter_types() {
  std::string out;
  for (const auto& [type, factory] : factories()) out += (out.empty() ? "" : ", ") + type;
  return out.empty() ? "none" : out;
}

}  // namespace wsproxy::filter

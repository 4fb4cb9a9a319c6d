// The filter registry: filter config factories by the full name of their
// config message. Filters register themselves from their own library
// (WSPROXY_REGISTER_FILTER); the core finds them by a typed_config's type
// and never includes a filter's header.
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <string>
#include <string_view>

#include "source/config/errors.h"
#include "source/config/loader.h"
#include "source/filter/filter.h"
#include "source/stats/stats.h"

namespace wsproxy::filter {

// What a factory may use while it builds.
struct FactoryContext {
  // The filter's config: report problems with its fields here, e.g.
  // scope.error("allowed_origins", "...").
  const config::FieldScope& scope;
  // The whole loaded config (resolve_path for files).
  const config::LoadedConfig& config;
  stats::Store& stats;
  // "filter.<chain>.<filter>.": the prefix for the filter's own stats.
  std::string stats_prefix;
};

class FilterConfigFactory {
 public:
  virtual ~FilterConfigFactory() = default;
  // The config message's full name, e.g. "wsproxy.filters.origin.v1.Origin".
  virtual std::string_view config_type() const = 0;
  // `config` is of config_type(). Validates it and builds the factory, or
  // reports every problem to context.scope and returns null. Whatever can
  // fail must fail here: a factory never fails on a live connection.
  virtual std::shared_ptr<const FilterFactory> create(const google::protobuf::Message& config,
                                                      FactoryContext& context) const = 0;
};

// Registers a factory; called before main() by WSPROXY_REGISTER_FILTER.
bool register_filter(std::unique_ptr<FilterConfigFactory> factory);
// The factory for a config type, or null.
const FilterConfigFactory* find_filter(std::string_view config_type);
// Every registered config type, comma-separated (for error messages).
std::string registered_filter_types();

}  // namespace wsproxy::filter

// In a filter's .cc file (its cc_library needs alwayslink = True).
#define WSPROXY_REGISTER_FILTER(FactoryClass) \
  static const bool wsproxy_registered_##FactoryClass = ::wsproxy::filter::register_filter(std::make_unique<FactoryClass>())

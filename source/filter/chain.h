// Filter chains at run time: which connections a chain applies to, its
// configured filters with their stats, and the per-connection object that
// runs a chain's hooks.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "source/config/loader.h"
#include "source/filter/filter.h"
#include "source/stats/stats.h"

namespace wsproxy::filter {

// filter.<chain>.<filter>.allowed / .denied / .denied.<reason>
struct FilterStats {
  FilterStats(stats::Store& store, std::string prefix);
  stats::Counter& denied_for(std::string_view reason) const;

  stats::Store& store;
  const std::string prefix;
  stats::Counter& allowed;
  stats::Counter& denied;
};

struct ConfiguredFilter {
  std::string name;
  std::shared_ptr<const FilterFactory> factory;
  std::unique_ptr<FilterStats> stats;
};

class FilterChain {
 public:
  // Builds the chain's filters through the registry. Returns null after
  // reporting every problem (unknown type, a config its factory refuses)
  // to `scope`, the chain's place in the config.
  static std::shared_ptr<const FilterChain> create(const config::v1::FilterChain& proto,
                                                   const config::LoadedConfig& config,
                                                   const config::FieldScope& scope, stats::Store& store);

  // A chain without server names or path prefixes matches everything.
  bool is_default() const { return server_names_.empty() && path_prefixes_.empty(); }
  bool has_path_prefixes() const { return !path_prefixes_.empty(); }
  bool matches(std::string_view server_name, std::string_view path) const;
  const std::string& name() const { return name_; }
  const std::vector<ConfiguredFilter>& filters() const { return filters_; }

 private:
  std::string name_;
  std::vector<std::string> server_names_;
  std::vector<std::string> path_prefixes_;
  std::vector<ConfiguredFilter> filters_;
};

// A denial and the filter that made it.
struct ChainDenial {
  std::string_view filter;
  Denial denial;
};

// One connection's instances of a chain's filters.
class ActiveChain {
 public:
  explicit ActiveChain(const FilterChain& chain);
  ~ActiveChain();

  std::optional<ChainDenial> on_connect(ConnectContext& context);
  // Counts each filter that lets the request pass as allowed.
  std::optional<ChainDenial> on_request(RequestContext& context);
  void on_response(ResponseContext& context);

 private:
  std::optional<ChainDenial> denied(std::size_t index, Denial denial);

  const FilterChain& chain_;
  std::vector<std::unique_ptr<Filter>> filters_;
};

}  // namespace wsproxy::filter

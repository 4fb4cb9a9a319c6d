// Filter chains.
#include "source/filter/chain.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>

#include "source/common/server_name.h"
#include "source/filter/registry.h"

namespace wsproxy::filter {
namespace {

// The type name in a type URL ("type.googleapis.com/wsproxy.filters.x.v1.X").
std::string_view type_name(std::string_view url) { return url.substr(url.rfind('/') + 1); }

std::shared_ptr<const FilterFactory> build_filter(const config::v1::Filter& proto, const config::LoadedConfig& config,
                                                  const config::FieldScope& scope, stats::Store& store,
                                                  const std::string& stats_prefix) {
  std::string_view type = type_name(proto.typed_config().type_url());
  const FilterConfigFactory* factory = find_filter(type);
  const google::protobuf::Descriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(std::string(type));
  if (factory == nullptr || descriptor == nullptr) {
    scope.error("typed_config", "no filter is built in for type \"" + std::string(type) +
                                    "\" (built in: " + registered_filter_types() + ")");
    return nullptr;
  }
  std::unique_ptr<google::protobuf::Message> filter_config(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
  if (!proto.typed_config().UnpackTo(filter_config.get())) {
    scope.error("typed_config", "cannot read the " + std::string(type) + " config");
    return nullptr;
  }
  config::FieldScope contents = scope.any_contents("typed_config", *filter_config);
  FactoryContext context{contents, config, store, stats_prefix};
  return factory->create(*filter_config, context);
}

}  // namespace

FilterStats::FilterStats(stats::Store& s, std::string p)
    : store(s), prefix(std::move(p)), allowed(s.counter(prefix + "allowed")), denied(s.counter(prefix + "denied")) {}

stats::Counter& FilterStats::denied_for(std::string_view reason) const {
  return store.counter(prefix + "denied." + std::string(reason));
}

std::shared_ptr<const FilterChain> FilterChain::create(const config::v1::FilterChain& proto,
                                                       const config::LoadedConfig& config,
                                                       const config::FieldScope& scope, stats::Store& store) {
  auto chain = std::make_shared<FilterChain>();
  chain->name_ = proto.name();
  chain->server_names_.assign(proto.match().server_names().begin(), proto.match().server_names().end());
  chain->path_prefixes_.assign(proto.match().path_prefixes().begin(), proto.match().path_prefixes().end());
  bool ok = true;
  for (int i = 0; i < proto.filters_size(); ++i) {
    const auto& filter = proto.filters(i);
    std::string prefix = "filter." + chain->name_ + "." + filter.name() + ".";
    auto factory = build_filter(filter, config, scope.child("filters", i), store, prefix);
    if (factory == nullptr) {
      ok = false;
      continue;
    }
    chain->filters_.push_back({filter.name(), std::move(factory), std::make_unique<FilterStats>(store, prefix)});
  }
  return ok ? chain : nullptr;
}

bool FilterChain::matches(std::string_view server_name, std::string_view path) const {
  bool name_ok = server_names_.empty();
  for (const auto& pattern : server_names_) name_ok = name_ok || server_name_matches(pattern, server_name);
  bool path_ok = path_prefixes_.empty();
  for (const auto& prefix : path_prefixes_) path_ok = path_ok || path.substr(0, prefix.size()) == prefix;
  return name_ok && path_ok;
}

ActiveChain::ActiveChain(const FilterChain& chain) : chain_(chain) {
  filters_.reserve(chain.filters().size());
  for (const auto& configured : chain.filters()) filters_.push_back(configured.factory->create_filter());
}

ActiveChain::~ActiveChain() {
  for (auto& filter : filters_) filter->on_close();
}

std::optional<ChainDenial> ActiveChain::denied(std::size_t index, Denial denial) {
  const ConfiguredFilter& configured = chain_.filters()[index];
  configured.stats->denied.inc();
  configured.stats->denied_for(denial.reason).inc();
  return ChainDenial{configured.name, std::move(denial)};
}

std::optional<ChainDenial> ActiveChain::on_connect(ConnectContext& context) {
  for (std::size_t i = 0; i < filters_.size(); ++i) {
    if (auto denial = filters_[i]->on_connect(context)) return denied(i, std::move(*denial));
  }
  return std::nullopt;
}

std::optional<ChainDenial> ActiveChain::on_request(RequestContext& context) {
  for (std::size_t i = 0; i < filters_.size(); ++i) {
    if (auto denial = filters_[i]->on_request(context)) return denied(i, std::move(*denial));
    chain_.filters()[i].stats->allowed.inc();
  }
  return std::nullopt;
}

void ActiveChain::on_response(ResponseContext& context) {
  for (auto it = filters_.rbegin(); it != filters_.rend(); ++it) (*it)->on_response(context);
}

}  // namespace wsproxy::filter

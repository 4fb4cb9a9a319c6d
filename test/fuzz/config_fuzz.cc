// libFuzzer target: configuration loading from proto-text, the static
// checks, and the filter factories a config names (origin, header_rewrite,
// rate_limit): any text either loads or fails with positioned errors.
#include <cstddef>
#include <cstdint>
#include <string>

#include "source/config/loader.h"
#include "source/config/redact.h"
#include "source/config/validate.h"
#include "source/filter/chain.h"
#include "source/stats/stats.h"

using namespace wsproxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  config::ErrorList errors("fuzz.textproto");
  auto loaded = config::load_text(text, "fuzz.textproto", "/nonexistent", errors);
  if (!loaded) {
    if (errors.empty()) __builtin_trap();  // a refusal always says why
    return 0;
  }
  config::validate(*loaded, errors);
  if (!errors.empty()) return 0;
  stats::Store store(1);
  config::FieldScope root = loaded->root(errors);
  for (int i = 0; i < loaded->bootstrap.listeners_size(); ++i) {
    auto listener = root.child("listeners", i);
    for (int j = 0; j < loaded->bootstrap.listeners(i).filter_chains_size(); ++j) {
      (void)filter::FilterChain::create(loaded->bootstrap.listeners(i).filter_chains(j), *loaded,
                                        listener.child("filter_chains", j), store);
    }
  }
  config::v1::Bootstrap copy = loaded->bootstrap;
  config::redact_sensitive(copy);
  return 0;
}

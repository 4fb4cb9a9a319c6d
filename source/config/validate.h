// Checks of a Bootstrap that need no files or sockets: names, references,
// ranges. Files (certificates) are checked when the runtime config is built.
#pragma once

#include "source/config/loader.h"

namespace wsproxy::config {

// Adds every problem found to `errors`.
void validate(const LoadedConfig& config, ErrorList& errors);

// Letters, digits, '_', '-' and '.', 1 to 64 characters: safe in stats
// names and log lines.
bool is_valid_name(const std::string& name);

}  // namespace wsproxy::config

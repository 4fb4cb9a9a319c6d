// Reads a Bootstrap from proto-text, strictly: unknown fields, bad values and
// repeated singular fields are errors with file, line and column.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "source/config/errors.h"
#include "wsproxy/config/v1/bootstrap.pb.h"

namespace wsproxy::config {

struct LoadedConfig {
  v1::Bootstrap bootstrap;
  // Where the text came from (a path), for messages.
  std::string source;
  // The text as read.
  std::string text;
  // Relative file names in the config are resolved against this directory.
  std::string base_dir;
  // Field positions in the source text, for messages about semantic errors.
  std::shared_ptr<const google::protobuf::TextFormat::ParseInfoTree> locations;

  // `path` if absolute, else relative to base_dir.
  std::string resolve_path(const std::string& path) const;
  // A scope at the root of the Bootstrap, reporting into `errors`.
  FieldScope root(ErrorList& errors) const;
};

// Parses the file at `path`. On failure, returns nothing and fills `errors`.
std::optional<LoadedConfig> load_file(const std::string& path, ErrorList& errors);

// Parses `text`; `source` names it in messages, `base_dir` resolves paths.
std::optional<LoadedConfig> load_text(const std::string& text, const std::string& source,
                                      const std::string& base_dir, ErrorList& errors);

}  // namespace wsproxy::config

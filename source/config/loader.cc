// Proto-text config loading.
#include "source/config/loader.h"

#include <google/protobuf/io/tokenizer.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace wsproxy::config {
namespace {

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(ErrorList& errors) : errors_(errors) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.add(line + 1, column + 1, message);
  }
  void AddWarning(int line, google::protobuf::io::ColumnNumber column,
                  const std::string& message) override {
    errors_.add(line + 1, column + 1, "warning treated as an error: " + message);
  }

 private:
  ErrorList& errors_;
};

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string LoadedConfig::resolve_path(const std::string& path) const {
  if (path.empty() || path[0] == '/') return path;
  return base_dir + "/" + path;
}

FieldScope LoadedConfig::root(ErrorList& errors) const {
  return FieldScope(errors, bootstrap, locations.get());
}

std::optional<LoadedConfig> load_text(const std::string& text, const std::string& source,
                                      const std::string& base_dir, ErrorList& errors) {
  LoadedConfig loaded;
  loaded.source = source;
  loaded.text = text;
  loaded.base_dir = base_dir;
  auto locations = std::make_shared<google::protobuf::TextFormat::ParseInfoTree>();
  CollectErrors collector(errors);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&collector);
  parser.WriteLocationsTo(locations.get());
  if (!parser.ParseFromString(text, &loaded.bootstrap)) {
    if (errors.empty()) errors.add(0, 0, "cannot parse the config");
    return std::nullopt;
  }
  loaded.locations = std::move(locations);
  return loaded;
}

std::optional<LoadedConfig> load_file(const std::string& path, ErrorList& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.add(0, 0, std::string("cannot read the config file: ") + std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_text(text.str(), path, directory_of(path), errors);
}

}  // namespace wsproxy::config

// Config errors that point at the offending field: "file:line:col: path: what".
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>

#include <string>
#include <string_view>
#include <vector>

namespace wsproxy::config {

// Every problem found in one config source, in the order found.
class ErrorList {
 public:
  explicit ErrorList(std::string source) : source_(std::move(source)) {}

  const std::string& source() const { return source_; }
  // `line` and `column` are 1-based; 0 when unknown.
  void add(int line, int column, std::string_view message);
  bool empty() const { return messages_.empty(); }
  const std::vector<std::string>& messages() const { return messages_; }
  // One message per line.
  std::string joined() const;

 private:
  std::string source_;
  std::vector<std::string> messages_;
};

// One message inside a parsed config, with its path from the root
// (listeners["public"].routes[1]) and its position in the source text.
class FieldScope {
 public:
  using ParseInfoTree = google::protobuf::TextFormat::ParseInfoTree;

  // The root message. `tree` may be null (no positions known).
  FieldScope(ErrorList& errors, const google::protobuf::Message& root, const ParseInfoTree* tree);

  // The message-typed field `field` of this message (element `index` when
  // it is repeated).
  FieldScope child(std::string_view field, int index = -1) const;

  // The message packed in the google.protobuf.Any field `field`, unpacked
  // as `contents`: positions and paths continue into it.
  FieldScope any_contents(std::string_view field, const google::protobuf::Message& contents) const;

  // Reports a problem with `field` of this message.
  void error(std::string_view field, std::string_view message) const;
  // Reports a problem with this message as a whole.
  void error(std::string_view message) const;

  const google::protobuf::Message& message() const { return *message_; }
  ErrorList& errors() const { return *errors_; }
  const std::string& path() const { return path_; }

 private:
  FieldScope(ErrorList& errors, const google::protobuf::Message& message, const ParseInfoTree* tree,
             std::string path, int line, int column);

  ErrorList* errors_;
  const google::protobuf::Message* message_;
  const ParseInfoTree* tree_;
  std::string path_;
  int line_;
  int column_;
};

}  // namespace wsproxy::config

// Config error reporting.
#include "source/config/errors.h"

#include <google/protobuf/descriptor.h>

#include <cstdlib>

namespace wsproxy::config {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

const FieldDescriptor* field_named(const Message& message, std::string_view name) {
  const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(std::string(name));
  if (field == nullptr) {
    // A typo in wsproxy's own validation code, not in the user's config.
    fprintf(stderr, "wsproxy bug: %s has no field %.*s\n", message.GetTypeName().c_str(),
            static_cast<int>(name.size()), name.data());
    abort();
  }
  return field;
}

// "listeners[0]", or listeners["public"] when the element has a name.
std::string element_path(const FieldDescriptor* field, int index, const Message& element) {
  std::string out(field->name());
  if (index < 0) return out;
  const FieldDescriptor* name_field = element.GetDescriptor()->FindFieldByName("name");
  std::string name;
  if (name_field != nullptr && name_field->type() == FieldDescriptor::TYPE_STRING &&
      !name_field->is_repeated()) {
    name = element.GetReflection()->GetString(element, name_field);
  }
  if (name.empty()) return out + "[" + std::to_string(index) + "]";
  return out + "[\"" + name + "\"]";
}

}  // namespace

void ErrorList::add(int line, int column, std::string_view message) {
  std::string out = source_;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  out += message;
  messages_.push_back(std::move(out));
}

std::string ErrorList::joined() const {
  std::string out;
  for (const auto& m : messages_) out += m + "\n";
  return out;
}

FieldScope::FieldScope(ErrorList& errors, const Message& root, const ParseInfoTree* tree)
    : FieldScope(errors, root, tree, "", 0, 0) {}

FieldScope::FieldScope(ErrorList& errors, const Message& message, const ParseInfoTree* tree,
                       std::string path, int line, int column)
    : errors_(&errors), message_(&message), tree_(tree), path_(std::move(path)), line_(line),
      column_(column) {}

FieldScope FieldScope::child(std::string_view name, int index) const {
  const FieldDescriptor* field = field_named(*message_, name);
  const auto* reflection = message_->GetReflection();
  const Message& element = field->is_repeated()
                               ? reflection->GetRepeatedMessage(*message_, field, index)
                               : reflection->GetMessage(*message_, field);
  int line = line_, column = column_;
  const ParseInfoTree* nested = nullptr;
  if (tree_ != nullptr) {
    auto location = tree_->GetLocation(field, field->is_repeated() ? index : -1);
    if (location.line >= 0) {
      line = location.line + 1;
      column = location.column + 1;
    }
    nested = tree_->GetTreeForNested(field, field->is_repeated() ? index : -1);
  }
  std::string path = path_.empty() ? "" : path_ + ".";
  path += element_path(field, field->is_repeated() ? index : -1, element);
  return FieldScope(*errors_, element, nested, std::move(path), line, column);
}

FieldScope FieldScope::any_contents(std::string_view name, const Message& contents) const {
  const FieldDescriptor* field = field_named(*message_, name);
  int line = line_, column = column_;
  const ParseInfoTree* nested = nullptr;
  if (tree_ != nullptr) {
    auto location = tree_->GetLocation(field, -1);
    if (location.line >= 0) {
      line = location.line + 1;
      column = location.column + 1;
    }
    // The text parser records an expanded Any's fields in the Any's tree.
    nested = tree_->GetTreeForNested(field, -1);
  }
  std::string path = path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  return FieldScope(*errors_, contents, nested, std::move(path), line, column);
}

void FieldScope::error(std::string_view name, std::string_view message) const {
  const FieldDescriptor* field = field_named(*message_, name);
  int line = line_, column = column_;
  if (tree_ != nullptr) {
    auto location = tree_->GetLocation(field, field->is_repeated() ? 0 : -1);
    if (location.line >= 0) {
      line = location.line + 1;
      column = location.column + 1;
    }
  }
  std::string text = path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  text += ": ";
  text += message;
  errors_->add(line, column, text);
}

void FieldScope::error(std::string_view message) const {
  std::string text = path_.empty() ? std::string("config") : path_;
  text += ": ";
  text += message;
  errors_->add(line_, column_, text);
}

}  // namespace wsproxy::config

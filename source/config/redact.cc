// Redaction of sensitive config fields.
#include "source/config/redact.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/descriptor.h>

#include <memory>

#include "wsproxy/annotations/v1/sensitive.pb.h"

namespace wsproxy::config {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

void redact_any(google::protobuf::Any& any) {
  std::string type = any.type_url().substr(any.type_url().rfind('/') + 1);
  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
  if (descriptor == nullptr) return;
  std::unique_ptr<Message> contents(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
  if (!any.UnpackTo(contents.get())) return;
  redact_sensitive(*contents);
  any.PackFrom(*contents);
}

void redact_message_field(Message& message, const FieldDescriptor* field, int index) {
  const auto* reflection = message.GetReflection();
  Message* child = index < 0 ? reflection->MutableMessage(&message, field)
                             : reflection->MutableRepeatedMessage(&message, field, index);
  if (auto* any = dynamic_cast<google::protobuf::Any*>(child)) {
    redact_any(*any);
  } else {
    redact_sensitive(*child);
  }
}

}  // namespace

void redact_sensitive(Message& message) {
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    bool sensitive = field->options().GetExtension(wsproxy::annotations::v1::sensitive);
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING && sensitive) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          reflection->SetRepeatedString(&message, field, i, "[redacted]");
        }
      } else {
        reflection->SetString(&message, field, "[redacted]");
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) redact_message_field(message, field, i);
      } else {
        redact_message_field(message, field, -1);
      }
    }
  }
}

}  // namespace wsproxy::config

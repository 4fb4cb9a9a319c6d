// Hides secrets before a config is shown (the admin API's config dump).
#pragma once

#include <google/protobuf/message.h>

namespace wsproxy::config {

// Replaces every set string field marked (wsproxy.annotations.v1.sensitive)
// with "[redacted]", in nested messages and inside google.protobuf.Any
// values of known types (filter configs) too.
void redact_sensitive(google::protobuf::Message& message);

}  // namespace wsproxy::config

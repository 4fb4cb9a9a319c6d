// google.protobuf.Duration helpers.
#pragma once

#include <google/protobuf/duration.pb.h>

#include <chrono>

namespace wsproxy::config {

// True if seconds and nanos are in range, have one sign and are >= 0.
bool is_valid_non_negative(const google::protobuf::Duration& d);

std::chrono::milliseconds to_milliseconds(const google::protobuf::Duration& d);

}  // namespace wsproxy::config

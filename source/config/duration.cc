// google.protobuf.Duration helpers.
#include "source/config/duration.h"

namespace wsproxy::config {

bool is_valid_non_negative(const google::protobuf::Duration& d) {
  // Ten thousand years, the Duration type's own bound.
  constexpr int64_t kMaxSeconds = 315576000000;
  return d.seconds() >= 0 && d.seconds() <= kMaxSeconds && d.nanos() >= 0 && d.nanos() < 1000000000;
}

std::chrono::milliseconds to_milliseconds(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
}

}  // namespace wsproxy::config

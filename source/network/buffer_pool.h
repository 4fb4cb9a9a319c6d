// Relay buffers of one worker. A connection holds a buffer only while data
// is in flight and returns it when its socket has nothing more to read, so
// idle connections cost no buffer memory.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace wsproxy::network {

class BufferPool {
 public:
  static constexpr std::size_t kBufferSize = 16384;

  // Keeps at most `max_idle` returned buffers for reuse; frees the rest.
  explicit BufferPool(std::size_t max_idle) : max_idle_(max_idle) {}

  std::unique_ptr<char[]> acquire() {
    if (idle_.empty()) return std::unique_ptr<char[]>(new char[kBufferSize]);
    auto buffer = std::move(idle_.back());
    idle_.pop_back();
    return buffer;
  }

  void release(std::unique_ptr<char[]> buffer) {
    if (buffer && idle_.size() < max_idle_) idle_.push_back(std::move(buffer));
  }

 private:
  std::size_t max_idle_;
  std::vector<std::unique_ptr<char[]>> idle_;
};

}  // namespace wsproxy::network

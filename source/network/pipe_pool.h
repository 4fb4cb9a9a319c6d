// Pipes of one worker, for splice(2): the payload of a large frame between
// two plain sockets moves socket -> pipe -> socket without being copied
// through user space. A tunnel holds a pipe only while bytes are in it and
// gives it back empty, so idle connections hold no pipe descriptors.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <vector>

namespace wsproxy::network {

struct Pipe {
  int read = -1;
  int write = -1;
  explicit operator bool() const { return read >= 0; }
};

class PipePool {
 public:
  // Keeps at most `max_idle` returned pipes open for reuse.
  explicit PipePool(std::size_t max_idle) : max_idle_(max_idle) {}
  ~PipePool() {
    for (Pipe& pipe : idle_) close(pipe);
  }
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // A pipe, or a null one if none can be opened (out of descriptors): the
  // caller then copies instead.
  Pipe acquire() {
    if (!idle_.empty()) {
      Pipe pipe = idle_.back();
      idle_.pop_back();
      return pipe;
    }
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
    return {fds[0], fds[1]};
  }

  // `pipe` must be empty (or null).
  void release(Pipe& pipe) {
    if (!pipe) return;
    if (idle_.size() < max_idle_) {
      idle_.push_back(pipe);
      pipe = {};
    } else {
      close(pipe);
    }
  }

  // For a pipe that still holds bytes: it cannot be reused.
  static void close(Pipe& pipe) {
    if (!pipe) return;
    ::close(pipe.read);
    ::close(pipe.write);
    pipe = {};
  }

 private:
  std::size_t max_idle_;
  std::vector<Pipe> idle_;
};

}  // namespace wsproxy::network

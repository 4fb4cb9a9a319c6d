// The worker's io_uring, which carries its streams' socket reads and writes
// without a system call each: every operation prepared while handlers run
// goes to the kernel with the event loop's one io_uring_enter per round,
// which also waits for their completions. A socket receives one receive at
// a time; once its data has come in small pieces for a while its receive,
// once armed, stays armed (multishot) as long as its reader keeps up, until
// bulk data comes (which a reader may rather splice than have copied out of
// the socket). Each arrival takes a buffer from a ring shared by the
// worker's sockets only when data comes, so an idle socket holds none; a
// send goes from a buffer the socket holds only while its bytes are
// unsent. Sockets keep the readiness interface
// of the rest of the loop: an operation that cannot finish now returns
// -EAGAIN, and its completion reaches the socket's watcher as an event
// (EPOLLIN, EPOLLOUT, EPOLLERR).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "source/network/event_loop.h"

struct io_uring;
struct io_uring_sqe;
struct io_uring_buf_ring;

namespace wsproxy::network {

class IoRing;

// One socket's operations on the ring. The socket owns its descriptor;
// after close() the ring owns the object until its last operation ends.
class RingSocket {
 public:
  // Bytes read (at most what one received buffer holds), 0 at the end of
  // the stream, -EAGAIN (a receive is armed; the watcher hears EPOLLIN when
  // data comes), or -errno.
  ssize_t receive(char* data, std::size_t size);
  // Bytes taken (sent in order, later), -EAGAIN when the send buffer is
  // full (the watcher hears EPOLLOUT when there is room), or -errno if an
  // earlier send failed.
  ssize_t send(const char* data, std::size_t size);
  // Received bytes not yet returned by receive().
  bool has_input() const { return in_buffer_ >= 0 || kept_at_ < kept_.size(); }
  bool receiving() const { return starved_ || (in_flight_ & (1u << kReceive)); }
  // Ends the armed receive (for a reader that is about to take bytes from
  // the socket itself); its last completion wakes the watcher.
  void stop_receiving();
  // Bytes taken by send() and not yet sent.
  bool output_pending() const { return out_at_ != out_end_; }
  // Asks for one readiness event (EPOLLIN or EPOLLOUT), for callers that
  // move data with system calls of their own (splice). False if it cannot
  // be queued.
  [[nodiscard]] bool poll(uint32_t event);
  // The watcher hears EPOLLOUT once the pending output is all sent.
  void wait_drained();
  // Sends FIN once the pending output is out.
  void shutdown_write();
  // Closes the socket once what send() took is out (within 10 s; a peer
  // that does not read loses the rest); other operations are cancelled.
  // The pointer must not be used again.
  void close();

 private:
  friend class IoRing;
  enum Kind : uint8_t { kReceive, kSend, kPollIn, kPollOut };

  RingSocket(IoRing& ring, int fd, EventLoop::Watcher* watcher, std::size_t receive_size)
      : ring_(ring), fd_(fd), watcher_(watcher), receive_size_(static_cast<unsigned>(receive_size)) {}
  uint64_t user_data(Kind kind) const { return reinterpret_cast<uintptr_t>(this) | kind; }
  // Points a prepared operation at the socket: its registered slot (no
  // descriptor lookup per operation) or, without one, its descriptor.
  void target(io_uring_sqe* sqe) const;
  bool arm_receive();
  // Takes the received buffer `id` holding `size` bytes as input.
  void take_input(int id, std::size_t size);
  // Switches between one receive at a time and a multishot receive by how
  // much each receive brought.
  void adapt_to(std::size_t received);
  // Moves what is left of a received buffer into the socket's own, giving
  // the shared one back, and stops receiving: the reader has paused.
  void keep_input();
  void close_descriptor();
  void submit_send();
  void complete(Kind kind, int result, uint32_t flags);
  void complete_receive(int result, uint32_t flags);
  void complete_send(int result);
  void release_input();
  void notify(uint32_t events);

  IoRing& ring_;
  int fd_;
  int file_slot_ = -1;           // in the ring's registered files; -1: none
  EventLoop::Watcher* watcher_;  // null once closed
  unsigned receive_size_;        // what one receive at a time takes at most
  bool multishot_ = false;       // the next receive armed is multishot
  uint8_t small_in_a_row_ = 0;   // receives in a row that brought little
  uint8_t in_flight_ = 0;        // one bit per Kind
  int error_ = 0;                // sticky: the first failure of a receive or send
  bool at_end_ = false;
  bool write_shut_ = false;        // shutdown_write() was called
  bool shutdown_pending_ = false;  // ... and waits for the output to go
  bool writer_waiting_ = false;  // tell the watcher when the output has gone
  bool starved_ = false;         // a receive found no buffer: armed again when one is back
  bool cancelling_ = false;      // the armed receive is being stopped
  bool completing_ = false;      // in complete(): close() must not delete
  // Input is in one of these two, never both: a ring buffer, or (bytes a
  // reader left past its round, and what came after them) the socket's own.
  int in_buffer_ = -1;  // id of the ring buffer holding received bytes
  std::size_t in_at_ = 0, in_end_ = 0;
  std::string kept_;
  std::size_t kept_at_ = 0;
  bool lingering_ = false;       // closed, still sending what it took
  bool linger_limited_ = false;  // ... under the time limit
  std::unique_ptr<char[]> out_;
  std::size_t out_at_ = 0, out_sending_ = 0, out_end_ = 0;  // sent | in flight | taken
};

class IoRing {
 public:
  // Receive buffers (and send buffers): two TLS records.
  static constexpr std::size_t kBufferSize = 32768;

  // Null if the kernel offers no io_uring with what this needs (single
  // issuer, deferred task running, buffer rings: Linux 6.1), or refuses
  // it (seccomp in some containers); the loop then uses epoll alone.
  static std::unique_ptr<IoRing> create();
  ~IoRing();
  IoRing(const IoRing&) = delete;
  IoRing& operator=(const IoRing&) = delete;

  // Events of the new socket go to `watcher`; a single receive takes at
  // most `receive_size` bytes (up to kBufferSize), a multishot one whole
  // buffers.
  RingSocket* open_socket(int fd, EventLoop::Watcher* watcher, std::size_t receive_size);

  // On the loop's thread, which from then on is the only one to submit.
  void start();
  // After the loop's last round (submits what it prepared): sockets
  // closed from now on close their descriptor at once, as nothing will
  // submit again.
  void stop();
  // Operations waiting to be submitted or in flight.
  bool busy() const;
  // See EventLoop::count_bytes_dropped_at_close.
  void count_bytes_dropped_at_close(stats::Counter& counter) { bytes_dropped_at_close_ = &counter; }
  // Submits what is prepared, waits up to `timeout_ms` (-1: no limit, 0:
  // not at all) for a completion or for `epoll_fd` to become readable, and
  // hands the completions to their sockets. True if `epoll_fd` is readable.
  bool run_once(int epoll_fd, int timeout_ms);

 private:
  friend class RingSocket;
  static constexpr unsigned kBuffers = 64;

  IoRing() = default;
  // A submission slot; submits to make room when the queue is full. Null
  // if it cannot (a ring never started).
  io_uring_sqe* slot();
  char* buffer(int id) const { return buffers_ + static_cast<std::size_t>(id) * kBufferSize; }
  void recycle(int id);
  // Registers `socket`'s descriptor in a free slot of the ring's file table
  // (with the next submission); the socket keeps file_slot_ -1 if none is free.
  void register_file(RingSocket& socket);
  std::unique_ptr<char[]> acquire_output();
  void release_output(std::unique_ptr<char[]> buffer);
  void retire(RingSocket* socket);

  std::unique_ptr<io_uring> ring_;
  io_uring_buf_ring* buffer_ring_ = nullptr;
  std::size_t buffer_ring_bytes_ = 0;
  char* buffers_ = nullptr;
  std::deque<RingSocket*> starved_;  // receives that found no buffer, oldest first
  unsigned free_buffers_ = kBuffers;  // in the buffer ring, for the kernel to pick
  std::vector<RingSocket*> holding_;  // took a ring buffer this round
  std::vector<std::unique_ptr<char[]>> idle_outputs_;
  unsigned file_slots_ = 0;      // registered file table size (0: none)
  unsigned next_file_slot_ = 0;  // slots from here on never used yet
  std::vector<int> free_file_slots_;
  std::unordered_set<RingSocket*> closed_;  // owned: closed, operations still in flight
  std::vector<RingSocket*> retired_;        // owned: done, freed after the next submission
  std::size_t in_flight_ = 0;
  stats::Counter* bytes_dropped_at_close_ = nullptr;
  bool epoll_polled_ = false;
  bool started_ = false, stopped_ = false;
};

}  // namespace wsproxy::network

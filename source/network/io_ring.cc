// The worker's io_uring for streams' sockets.
#include "source/network/io_ring.h"

#include <liburing.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "source/stats/stats.h"

namespace wsproxy::network {
namespace {

constexpr unsigned kSubmissionEntries = 1024;
constexpr unsigned kCompletionEntries = 8192;
constexpr uint16_t kBufferGroup = 0;
// user_data of the poll on the loop's epoll descriptor; socket operations
// carry their socket's address (8-aligned) with the kind in the low bits,
// and 0 marks those whose completion says nothing (cancel, close, shutdown).
constexpr uint64_t kEpollReady = 1;
constexpr uint64_t kKindMask = 7;
constexpr std::size_t kIdleOutputs = 64;
// A socket gets a multishot receive after this many receives in a row of
// less than this.
constexpr std::size_t kSmallReceive = 4096;
constexpr uint8_t kSmallReceivesForMultishot = 16;
// Registered file slots per ring: one per descriptor the process may open,
// up to this (the kernel keeps 8 bytes per slot).
constexpr rlim_t kMostFileSlots = 65536;
// How long a closed socket may take to send what was written before its
// close (a peer that stopped reading gets no more than this).
__kernel_timespec kLinger{10, 0};

void* map_anonymous(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// Linux before 6.13 releases a file taken out of the registered table only
// once every operation that used the table before it has ended, in order:
// one receive armed on an idle connection would hold every socket closed
// after it open.
bool files_released_at_once() {
  utsname name{};
  unsigned major = 0, minor = 0;
  return uname(&name) == 0 && std::sscanf(name.release, "%u.%u", &major, &minor) == 2 &&
         (major > 6 || (major == 6 && minor >= 13));
}

// liburing 2.3 (Debian 12) declares io_uring_enable_rings but does not
// export it.
int enable_rings(io_uring* ring) {
  long ret = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  return ret < 0 ? -errno : 0;
}

// An operation whose success needs no handling. Only operations the
// kernel runs at once when submitted (cancel, close, file slot updates) are
// used this way: the close that follows them frees the descriptor's number.
void quietly(io_uring_sqe* sqe) {
  io_uring_sqe_set_data64(sqe, 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

}  // namespace

std::unique_ptr<IoRing> IoRing::create() {
  std::unique_ptr<IoRing> ring(new IoRing);
  auto uring = std::make_unique<io_uring>();
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED |
                 IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
  params.cq_entries = kCompletionEntries;
  if (io_uring_queue_init_params(kSubmissionEntries, uring.get(), &params) < 0) return nullptr;
  ring->ring_ = std::move(uring);
  if (!(params.features & IORING_FEAT_CQE_SKIP)) return nullptr;

  ring->buffer_ring_bytes_ = kBuffers * sizeof(io_uring_buf);
  ring->buffer_ring_ = static_cast<io_uring_buf_ring*>(map_anonymous(ring->buffer_ring_bytes_));
  ring->buffers_ = static_cast<char*>(map_anonymous(kBuffers * kBufferSize));
  if (ring->buffer_ring_ == nullptr || ring->buffers_ == nullptr) return nullptr;
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<uintptr_t>(ring->buffer_ring_);
  registration.ring_entries = kBuffers;
  registration.bgid = kBufferGroup;
  if (io_uring_register_buf_ring(ring->ring_.get(), &registration, 0) != 0) return nullptr;
  io_uring_buf_ring_init(ring->buffer_ring_);
  for (unsigned id = 0; id < kBuffers; ++id) {
    io_uring_buf_ring_add(ring->buffer_ring_, ring->buffer(id), kBufferSize, id, io_uring_buf_ring_mask(kBuffers), id);
  }
  io_uring_buf_ring_advance(ring->buffer_ring_, kBuffers);

  // Operations on a registered file skip the descriptor table (a reference
  // count taken and dropped per operation in a threaded process). Without
  // the table, sockets use their descriptors.
  rlimit files{};
  if (files_released_at_once() && getrlimit(RLIMIT_NOFILE, &files) == 0) {
    auto slots = static_cast<unsigned>(std::min(files.rlim_cur, kMostFileSlots));
    if (io_uring_register_files_sparse(ring->ring_.get(), slots) == 0) ring->file_slots_ = slots;
  }
  return ring;
}

IoRing::~IoRing() {
  if (ring_) {
    // Sockets closed before the loop ever ran left their cancels and
    // closes here; this thread may submit them, as none did before.
    if (!started_ && enable_rings(ring_.get()) == 0) io_uring_submit(ring_.get());
    io_uring_queue_exit(ring_.get());  // cancels what is still in flight
  }
  for (RingSocket* socket : closed_) {
    if (socket->fd_ >= 0) ::close(socket->fd_);  // still sending when the loop ended
    delete socket;
  }
  for (RingSocket* socket : retired_) delete socket;
  if (buffers_ != nullptr) munmap(buffers_, kBuffers * kBufferSize);
  if (buffer_ring_ != nullptr) munmap(buffer_ring_, buffer_ring_bytes_);
}

RingSocket* IoRing::open_socket(int fd, EventLoop::Watcher* watcher, std::size_t receive_size) {
  auto* socket = new RingSocket(*this, fd, watcher, std::min(receive_size, kBufferSize));
  register_file(*socket);
  return socket;
}

void IoRing::register_file(RingSocket& socket) {
  int file_slot = -1;
  if (!free_file_slots_.empty()) {
    file_slot = free_file_slots_.back();
    free_file_slots_.pop_back();
  } else if (next_file_slot_ < file_slots_) {
    file_slot = static_cast<int>(next_file_slot_++);
  } else {
    return;
  }
  io_uring_sqe* sqe = slot();
  if (sqe == nullptr) {
    free_file_slots_.push_back(file_slot);
    return;
  }
  // The kernel reads the descriptor when it takes the submission, which
  // happens before the socket can be freed (see run_once).
  io_uring_prep_files_update(sqe, &socket.fd_, 1, file_slot);
  quietly(sqe);
  socket.file_slot_ = file_slot;
}

void IoRing::start() {
  stopped_ = false;
  if (started_) return;
  started_ = true;
  if (int error = enable_rings(ring_.get()); error != 0) {
    std::fprintf(stderr, "wsproxy: io_uring_enable_rings: %s\n", std::strerror(-error));
    std::abort();
  }
  // Spares the kernel a descriptor lookup per io_uring_enter; optional.
  io_uring_register_ring_fd(ring_.get());
}

void IoRing::stop() {
  // What the last round prepared (closes, sends) still goes out.
  io_uring_submit(ring_.get());
  stopped_ = true;
}

bool IoRing::busy() const { return in_flight_ > 0 || io_uring_sq_ready(ring_.get()) > 0; }

io_uring_sqe* IoRing::slot() {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (sqe == nullptr && started_ && !stopped_) {
    io_uring_submit(ring_.get());
    sqe = io_uring_get_sqe(ring_.get());
  }
  return sqe;
}

bool IoRing::run_once(int epoll_fd, int timeout_ms) {
  if (!epoll_polled_) {
    if (io_uring_sqe* sqe = slot()) {
      io_uring_prep_poll_add(sqe, epoll_fd, POLLIN);
      io_uring_sqe_set_data64(sqe, kEpollReady);
      epoll_polled_ = true;
    }
  }
  // Sockets retired since the last submission are freed once it is made:
  // cancels queued for them carry their address, which a new socket could
  // otherwise take before the kernel has seen them.
  std::vector<RingSocket*> retired;
  retired.swap(retired_);
  int ret;
  if (timeout_ms == 0) {
    ret = io_uring_submit_and_get_events(ring_.get());
  } else {
    __kernel_timespec timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000000LL};
    io_uring_cqe* first = nullptr;
    ret = io_uring_submit_and_wait_timeout(ring_.get(), &first, 1, timeout_ms < 0 ? nullptr : &timeout, nullptr);
  }
  if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN) {
    std::fprintf(stderr, "wsproxy: io_uring_enter: %s\n", std::strerror(-ret));
    std::abort();
  }
  if (io_uring_sq_ready(ring_.get()) == 0) {
    for (RingSocket* socket : retired) {
      if (socket->file_slot_ >= 0) free_file_slots_.push_back(socket->file_slot_);  // its file left the slot
      delete socket;
    }
  } else {
    retired_.insert(retired_.end(), retired.begin(), retired.end());  // not taken yet: next time
  }

  bool epoll_ready = false;
  struct Completion {
    uint64_t user_data;
    int result;
    uint32_t flags;
  };
  io_uring_cqe* cqes[64];
  Completion batch[64];
  // Copied out first: a handler may submit, which can post more.
  while (unsigned count = io_uring_peek_batch_cqe(ring_.get(), cqes, 64)) {
    for (unsigned i = 0; i < count; ++i) batch[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    io_uring_cq_advance(ring_.get(), count);
    for (unsigned i = 0; i < count; ++i) {
      const Completion& c = batch[i];
      if (c.user_data == 0) continue;
      if (c.user_data == kEpollReady) {
        epoll_polled_ = false;
        epoll_ready = true;
        continue;
      }
      if (!(c.flags & IORING_CQE_F_MORE)) --in_flight_;  // a multishot receive goes on
      auto* socket = reinterpret_cast<RingSocket*>(c.user_data & ~kKindMask);
      socket->complete(static_cast<RingSocket::Kind>(c.user_data & kKindMask), c.result, c.flags);
    }
  }
  // A reader that did not take everything (or nothing: a wait left to
  // expire) must not keep a shared buffer for as long as it pauses: when
  // every buffer is held, every other socket's receive starves.
  for (RingSocket* socket : holding_) socket->keep_input();
  holding_.clear();
  return epoll_ready;
}

void IoRing::recycle(int id) {
  io_uring_buf_ring_add(buffer_ring_, buffer(id), kBufferSize, static_cast<unsigned short>(id),
                        io_uring_buf_ring_mask(kBuffers), 0);
  io_uring_buf_ring_advance(buffer_ring_, 1);
  ++free_buffers_;
  // The receive that found no buffer first can have this one.
  if (!starved_.empty() && starved_.front()->arm_receive()) {
    starved_.front()->starved_ = false;
    starved_.pop_front();
  }
}

std::unique_ptr<char[]> IoRing::acquire_output() {
  if (idle_outputs_.empty()) return std::unique_ptr<char[]>(new char[kBufferSize]);
  auto buffer = std::move(idle_outputs_.back());
  idle_outputs_.pop_back();
  return buffer;
}

void IoRing::release_output(std::unique_ptr<char[]> buffer) {
  if (buffer && idle_outputs_.size() < kIdleOutputs) idle_outputs_.push_back(std::move(buffer));
}

void IoRing::retire(RingSocket* socket) {
  closed_.erase(socket);
  release_output(std::move(socket->out_));
  retired_.push_back(socket);
}

ssize_t RingSocket::receive(char* data, std::size_t size) {
  if (kept_at_ < kept_.size()) {
    std::size_t n = std::min(size, kept_.size() - kept_at_);
    std::memcpy(data, kept_.data() + kept_at_, n);
    kept_at_ += n;
    if (kept_at_ == kept_.size()) {
      std::string().swap(kept_);
      kept_at_ = 0;
    }
    return static_cast<ssize_t>(n);
  }
  if (in_buffer_ >= 0) {
    std::size_t n = std::min(size, in_end_ - in_at_);
    std::memcpy(data, ring_.buffer(in_buffer_) + in_at_, n);
    in_at_ += n;
    if (in_at_ == in_end_) release_input();
    return static_cast<ssize_t>(n);
  }
  if (error_ != 0) return -error_;
  if (at_end_) return 0;
  if (!receiving()) arm_receive();
  return error_ != 0 ? -error_ : -EAGAIN;
}

ssize_t RingSocket::send(const char* data, std::size_t size) {
  if (error_ != 0) return -error_;
  if (write_shut_) return -EPIPE;
  if (!out_) out_ = ring_.acquire_output();
  std::size_t room = IoRing::kBufferSize - out_end_;
  if (room == 0) {
    writer_waiting_ = true;
    return -EAGAIN;
  }
  std::size_t n = std::min(size, room);
  std::memcpy(out_.get() + out_end_, data, n);
  out_end_ += n;
  if (!(in_flight_ & (1u << kSend))) submit_send();
  return error_ != 0 ? -error_ : static_cast<ssize_t>(n);
}

bool RingSocket::poll(uint32_t event) {
  Kind kind = event == EPOLLIN ? kPollIn : kPollOut;
  if (in_flight_ & (1u << kind)) return true;
  io_uring_sqe* sqe = ring_.slot();
  if (sqe == nullptr) return false;
  io_uring_prep_poll_add(sqe, fd_, event == EPOLLIN ? POLLIN | POLLRDHUP : POLLOUT);
  target(sqe);
  io_uring_sqe_set_data64(sqe, user_data(kind));
  in_flight_ |= 1u << kind;
  ++ring_.in_flight_;
  return true;
}

void RingSocket::wait_drained() {
  if (output_pending()) writer_waiting_ = true;
}

void RingSocket::shutdown_write() {
  write_shut_ = true;
  if (output_pending()) {
    shutdown_pending_ = true;
    return;
  }
  // A system call, not IORING_OP_SHUTDOWN: that always runs later on a
  // kernel worker, which looks the descriptor up only then, when it may
  // already be closed and its number taken by another socket.
  ::shutdown(fd_, SHUT_WR);
}

void RingSocket::close() {
  watcher_ = nullptr;
  release_input();
  std::string().swap(kept_);
  if (starved_) {
    ring_.starved_.erase(std::find(ring_.starved_.begin(), ring_.starved_.end(), this));
    starved_ = false;
  }
  // Bytes write() took are the caller's to believe sent, as the kernel's
  // would be after close(2): the socket stays open until they are out
  // (or kLinger passes without the peer taking them). A send in flight is
  // cancelled and sent again with that time limit.
  lingering_ = output_pending() && error_ == 0;
  // Queued behind this socket's operations, the cancels and the close run
  // after them: a send prepared this round still goes out if the socket
  // takes it now, and the descriptor stays open (its number not reused)
  // until then.
  for (Kind kind : {kReceive, kSend, kPollIn, kPollOut}) {
    if (!(in_flight_ & (1u << kind))) continue;
    if (io_uring_sqe* sqe = ring_.slot()) {
      io_uring_prep_cancel64(sqe, user_data(kind), 0);
      quietly(sqe);
    }
  }
  if (!lingering_) close_descriptor();
  if (in_flight_ == 0 && !completing_) return ring_.retire(this);
  ring_.closed_.insert(this);
}

void RingSocket::close_descriptor() {
  if (file_slot_ >= 0) {
    if (io_uring_sqe* sqe = ring_.slot()) {
      io_uring_prep_close_direct(sqe, static_cast<unsigned>(file_slot_));
      quietly(sqe);
    } else {
      file_slot_ = -1;  // the slot keeps the socket open until the ring ends; never reused
    }
  }
  io_uring_sqe* sqe = ring_.slot();
  if (sqe == nullptr) {
    ::close(fd_);
  } else {
    io_uring_prep_close(sqe, fd_);
    quietly(sqe);
  }
  fd_ = -1;
}

void RingSocket::target(io_uring_sqe* sqe) const {
  if (file_slot_ < 0) return;
  sqe->fd = file_slot_;
  sqe->flags |= IOSQE_FIXED_FILE;
}

bool RingSocket::arm_receive() {
  io_uring_sqe* sqe = ring_.slot();
  if (sqe == nullptr) {
    error_ = EBUSY;
    return false;
  }
  if (!multishot_) {
    io_uring_prep_recv(sqe, fd_, nullptr, receive_size_, 0);
  } else {
    // Multishot: armed once, it receives whatever comes, each arrival into
    // a buffer of the ring, until stopped (keep_input, stop_receiving,
    // close) or it ends (end of stream, an error, no free buffer). Length
    // 0: a whole buffer (Linux 6.1 takes no other for multishot).
    io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
  }
  target(sqe);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, user_data(kReceive));
  in_flight_ |= 1u << kReceive;
  ++ring_.in_flight_;
  return true;
}

void RingSocket::submit_send() {
  io_uring_sqe* sqe = ring_.slot();
  if (sqe == nullptr) {
    error_ = EBUSY;
    return;
  }
  io_uring_prep_send(sqe, fd_, out_.get() + out_at_, out_end_ - out_at_, MSG_NOSIGNAL);
  target(sqe);
  io_uring_sqe_set_data64(sqe, user_data(kSend));
  in_flight_ |= 1u << kSend;
  ++ring_.in_flight_;
  out_sending_ = out_end_;
  if (!lingering_) return;
  sqe->flags |= IOSQE_IO_LINK;
  if (io_uring_sqe* limit = ring_.slot()) {
    io_uring_prep_link_timeout(limit, &kLinger, 0);
    io_uring_sqe_set_data64(limit, 0);  // fired (-ETIME) or not needed (-ECANCELED): nothing to do
  }
  linger_limited_ = true;
}

void RingSocket::complete(Kind kind, int result, uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) in_flight_ &= ~(1u << kind);
  completing_ = true;
  switch (kind) {
    case kReceive:
      complete_receive(result, flags);
      break;
    case kSend:
      complete_send(result);
      break;
    case kPollIn:
    case kPollOut:
      if (result < 0 && result != -ECANCELED) error_ = -result;
      notify(result < 0 ? EPOLLERR : static_cast<uint32_t>(result));
      break;
  }
  completing_ = false;
  if (watcher_ == nullptr && in_flight_ == 0) ring_.retire(this);
}

void RingSocket::complete_receive(int result, uint32_t flags) {
  bool goes_on = flags & IORING_CQE_F_MORE;
  if (!goes_on) cancelling_ = false;
  if (flags & IORING_CQE_F_BUFFER) {
    --ring_.free_buffers_;
    int id = static_cast<int>(flags >> IORING_CQE_BUFFER_SHIFT);
    if (result > 0 && watcher_ != nullptr) {
      take_input(id, static_cast<std::size_t>(result));
      adapt_to(static_cast<std::size_t>(result));
    } else {
      ring_.recycle(id);
    }
  }
  if (watcher_ == nullptr) return;
  if (goes_on || result == -ECANCELED) return notify(EPOLLIN);  // data, or stopped: the reader tries again
  if (result == -ENOBUFS) {
    // Every buffer was out when data came. A reader with input arms the
    // receive again once it has read it (a paused one must not get more);
    // otherwise it is armed now if buffers have come back meanwhile, or
    // when one does.
    if (has_input() || (ring_.free_buffers_ > 0 && arm_receive())) return;
    starved_ = true;
    ring_.starved_.push_back(this);
    return;
  }
  if ((result == -EINTR || result == -EAGAIN) && arm_receive()) return;
  if (result == 0) at_end_ = true;
  if (result < 0 && error_ == 0) error_ = -result;
  notify(error_ != 0 ? EPOLLIN | EPOLLERR : EPOLLIN);
}

void RingSocket::complete_send(int result) {
  if (result > 0) {
    out_at_ += static_cast<std::size_t>(result);
  } else if (result != -EINTR && result != -EAGAIN && error_ == 0) {
    error_ = result < 0 ? -result : EPIPE;
  }
  if (watcher_ == nullptr) {
    // Closed: send the rest under the time limit, then close. A send
    // cancelled at close is sent again; one the limit cancelled is not.
    bool cancelled_by_close = result == -ECANCELED && !linger_limited_;
    if (lingering_ && out_at_ < out_end_ && (error_ == 0 || cancelled_by_close)) {
      error_ = 0;
      submit_send();
      if (in_flight_ & (1u << kSend)) return;
    }
    if (lingering_ && out_at_ < out_end_ && ring_.bytes_dropped_at_close_ != nullptr) {
      ring_.bytes_dropped_at_close_->inc(out_end_ - out_at_);
    }
    out_at_ = out_sending_ = out_end_ = 0;
    ring_.release_output(std::move(out_));
    if (lingering_) {
      lingering_ = false;
      close_descriptor();
    }
    return;
  }
  if (error_ != 0) {
    out_at_ = out_sending_ = out_end_ = 0;
    ring_.release_output(std::move(out_));
    if (writer_waiting_) {
      writer_waiting_ = false;
      notify(EPOLLOUT | EPOLLERR);
    }
    return;
  }
  if (out_at_ < out_end_) return submit_send();
  out_at_ = out_sending_ = out_end_ = 0;
  ring_.release_output(std::move(out_));
  if (shutdown_pending_) {
    shutdown_pending_ = false;
    ::shutdown(fd_, SHUT_WR);
  }
  if (writer_waiting_) {
    writer_waiting_ = false;
    notify(EPOLLOUT);
  }
}

void RingSocket::take_input(int id, std::size_t size) {
  if (in_buffer_ < 0 && kept_.empty()) {
    in_buffer_ = id;
    in_at_ = 0;
    in_end_ = size;
    ring_.holding_.push_back(this);
    return;
  }
  // The reader has not taken what came before: everything waits, in order,
  // in the socket's own buffer, and no more comes until it has read.
  keep_input();
  kept_.append(ring_.buffer(id), size);
  ring_.recycle(id);
  stop_receiving();
}

void RingSocket::adapt_to(std::size_t received) {
  if (multishot_) {
    if (received < IoRing::kBufferSize) return;
    // A whole buffer at once: bulk data, which the multishot would copy
    // into user space as fast as it comes, even what the reader would
    // rather splice.
    multishot_ = false;
    small_in_a_row_ = 0;
    return stop_receiving();
  }
  small_in_a_row_ = received < kSmallReceive ? small_in_a_row_ + 1 : 0;
  if (small_in_a_row_ == kSmallReceivesForMultishot) multishot_ = true;  // from the next receive on
}

void RingSocket::keep_input() {
  if (in_buffer_ < 0) return;
  kept_.assign(ring_.buffer(in_buffer_) + in_at_, in_end_ - in_at_);  // empty until now: input is in one place
  kept_at_ = 0;
  release_input();
  stop_receiving();
}

void RingSocket::stop_receiving() {
  if (!(in_flight_ & (1u << kReceive)) || cancelling_) return;
  if (io_uring_sqe* sqe = ring_.slot()) {
    io_uring_prep_cancel64(sqe, user_data(kReceive), 0);
    quietly(sqe);
    cancelling_ = true;
  }
}

void RingSocket::release_input() {
  if (in_buffer_ < 0) return;
  ring_.recycle(in_buffer_);
  in_buffer_ = -1;
}

void RingSocket::notify(uint32_t events) {
  if (watcher_ != nullptr) watcher_->on_ready(events);
}

}  // namespace wsproxy::network

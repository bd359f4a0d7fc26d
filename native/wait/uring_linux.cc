// io_uring futex waits, with raw system calls (the interface is stable ABI;
// liburing would be one more library for every user who compiles from source).
// Layout and ordering rules: io_uring_setup(2), io_uring_enter(2).
#include <linux/futex.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wait/uring.h"

namespace shmkit {

namespace {

// Added in Linux 6.7; older headers lack them (the kernel is probed at setup).
constexpr uint8_t kOpFutexWait = 51;
constexpr uint32_t kFutex2SizeU32 = 0x02;  // FUTEX2_SIZE_U32; no FUTEX2_PRIVATE: shared
constexpr uint64_t kCancelTag = 0;         // user_data of our cancel requests; wait ids start at 1
constexpr unsigned kSubmissionEntries = 64;
constexpr unsigned kCompletionEntries = 4096;  // more are kept in the kernel (IORING_FEAT_NODROP)

int Setup(unsigned entries, io_uring_params* params) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, params));
}

int Enter(int fd, unsigned to_submit, unsigned flags) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, to_submit, 0, flags, nullptr, 0));
}

bool SupportsFutexWait(int fd) {
  alignas(io_uring_probe) unsigned char buffer[sizeof(io_uring_probe) + 256 * sizeof(io_uring_probe_op)] = {};
  auto* probe = reinterpret_cast<io_uring_probe*>(buffer);
  if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, probe, 256) < 0) return false;
  return probe->last_op >= kOpFutexWait && (probe->ops[kOpFutexWait].flags & IO_URING_OP_SUPPORTED);
}

class Ring : public UringWaiter {
 public:
  ~Ring() override {
    if (sqes_) munmap(sqes_, sqes_bytes_);
    if (cq_ring_ && cq_ring_ != sq_ring_) munmap(cq_ring_, cq_bytes_);
    if (sq_ring_) munmap(sq_ring_, sq_bytes_);
    if (fd_ >= 0) close(fd_);  // the kernel cancels whatever is still queued
  }

  bool Open() {
    io_uring_params params = {};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    params.cq_entries = kCompletionEntries;
    fd_ = Setup(kSubmissionEntries, &params);
    if (fd_ < 0) return false;
    if (!(params.features & IORING_FEAT_NODROP) || !SupportsFutexWait(fd_)) return false;

    sq_bytes_ = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    cq_bytes_ = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
    bool single = params.features & IORING_FEAT_SINGLE_MMAP;
    if (single && cq_bytes_ > sq_bytes_) sq_bytes_ = cq_bytes_;
    sq_ring_ = Map(sq_bytes_, IORING_OFF_SQ_RING);
    if (!sq_ring_) return false;
    cq_ring_ = single ? sq_ring_ : Map(cq_bytes_, IORING_OFF_CQ_RING);
    if (!cq_ring_) return false;
    sqes_bytes_ = params.sq_entries * sizeof(io_uring_sqe);
    sqes_ = static_cast<io_uring_sqe*>(Map(sqes_bytes_, IORING_OFF_SQES));
    if (!sqes_) return false;

    char* sq = static_cast<char*>(sq_ring_);
    sq_tail_ = reinterpret_cast<unsigned*>(sq + params.sq_off.tail);
    sq_mask_ = *reinterpret_cast<unsigned*>(sq + params.sq_off.ring_mask);
    sq_array_ = reinterpret_cast<unsigned*>(sq + params.sq_off.array);
    sq_flags_ = reinterpret_cast<unsigned*>(sq + params.sq_off.flags);
    char* cq = static_cast<char*>(cq_ring_);
    cq_head_ = reinterpret_cast<unsigned*>(cq + params.cq_off.head);
    cq_tail_ = reinterpret_cast<unsigned*>(cq + params.cq_off.tail);
    cq_mask_ = *reinterpret_cast<unsigned*>(cq + params.cq_off.ring_mask);
    cqes_ = reinterpret_cast<io_uring_cqe*>(cq + params.cq_off.cqes);
    return true;
  }

  int fd() const override { return fd_; }

  int ArmWord(uint64_t id, int32_t* addr, int32_t expected) override {
    io_uring_sqe* sqe = NextEntry();
    sqe->opcode = kOpFutexWait;
    sqe->fd = kFutex2SizeU32;
    sqe->addr = reinterpret_cast<uint64_t>(addr);
    sqe->off = static_cast<uint32_t>(expected);  // addr2: the value, zero-extended
    sqe->addr3 = FUTEX_BITSET_MATCH_ANY;         // the mask
    sqe->user_data = id;
    return Submit();
  }

  void Disarm(uint64_t id) override {
    io_uring_sqe* sqe = NextEntry();
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->addr = id;
    sqe->user_data = kCancelTag;
    Submit();  // a failed cancel leaves a wait the engine has already settled
  }

  void Drain(std::vector<Completion>* out) override {
    for (;;) {
      unsigned head = *cq_head_;
      unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
      for (; head != tail; head++) {
        const io_uring_cqe& cqe = cqes_[head & cq_mask_];
        if (cqe.user_data != kCancelTag) out->push_back(ToCompletion(cqe));
      }
      __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
      // Completions the CQ had no room for wait in the kernel: flush, then read again.
      if (!(__atomic_load_n(sq_flags_, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW)) return;
      Enter(fd_, 0, IORING_ENTER_GETEVENTS);
    }
  }

 private:
  void* Map(size_t bytes, off_t offset) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, offset);
    return p == MAP_FAILED ? nullptr : p;
  }

  // Requests are submitted one at a time, so the entry after the tail is free.
  io_uring_sqe* NextEntry() {
    unsigned tail = *sq_tail_;
    unsigned index = tail & sq_mask_;
    io_uring_sqe* sqe = &sqes_[index];
    std::memset(sqe, 0, sizeof(*sqe));
    sq_array_[index] = index;
    return sqe;
  }

  int Submit() {
    __atomic_store_n(sq_tail_, *sq_tail_ + 1, __ATOMIC_RELEASE);
    for (;;) {
      int rc = Enter(fd_, 1, 0);
      if (rc == 1) return 0;
      int err = rc < 0 ? errno : EAGAIN;
      if (err == EINTR) continue;
      // Not consumed (EBUSY/EAGAIN: completions must be read first): take it back.
      __atomic_store_n(sq_tail_, *sq_tail_ - 1, __ATOMIC_RELEASE);
      return err == EBUSY ? EAGAIN : err;
    }
  }

  static Completion ToCompletion(const io_uring_cqe& cqe) {
    Completion c{cqe.user_data, WaitEnd::kWoken, 0, nullptr};
    switch (cqe.res) {
      case 0:
        c.end = WaitEnd::kWoken;
        break;
      case -EAGAIN:
        c.end = WaitEnd::kNotEqual;
        break;  // the word differed when it was queued
      case -ECANCELED:
        c.end = WaitEnd::kCancelled;
        break;
      case -EINTR:
        c.end = WaitEnd::kWoken;
        break;  // callers re-check: as a spurious wake
      default:
        c.error = -cqe.res;
        break;
    }
    return c;
  }

  int fd_ = -1;
  void* sq_ring_ = nullptr;
  void* cq_ring_ = nullptr;
  io_uring_sqe* sqes_ = nullptr;
  size_t sq_bytes_ = 0, cq_bytes_ = 0, sqes_bytes_ = 0;
  unsigned* sq_tail_ = nullptr;
  unsigned* sq_array_ = nullptr;
  unsigned* sq_flags_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
};

}  // namespace

std::unique_ptr<UringWaiter> UringWaiter::Create() {
  auto ring = std::make_unique<Ring>();
  if (!ring->Open()) return nullptr;
  return ring;
}

}  // namespace shmkit

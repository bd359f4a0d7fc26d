// Futex waits through io_uring (Linux 6.7+: IORING_OP_FUTEX_WAIT). Each wait
// is one request in the kernel; the ring's descriptor becomes readable when a
// request completes, so the event loop itself is woken: one hop from a
// waker's FUTEX_WAKE to JS, and no thread however many waits are pending.
// Raw system calls (io_uring_setup / io_uring_enter / mmap); see io_uring(7).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "wait_engine.h"

namespace shmkit {

class UringWaiter {
 public:
  // nullptr where io_uring cannot wait on futexes: kernel < 6.7, io_uring
  // disabled (sysctl kernel.io_uring_disabled, seccomp in containers), macOS.
  static std::unique_ptr<UringWaiter> Create();
  virtual ~UringWaiter() = default;

  // The descriptor to poll for readability.
  virtual int fd() const = 0;
  // Queues a wait while *addr == expected; 0 or an errno (EAGAIN: no room).
  virtual int Arm(uint64_t id, int32_t* addr, int32_t expected) = 0;
  // Asks the kernel to drop the wait; its completion is then ignored.
  virtual void Disarm(uint64_t id) = 0;
  // Moves every completion the kernel has posted into `out`.
  virtual void Drain(std::vector<Completion>* out) = 0;
};

}  // namespace shmkit

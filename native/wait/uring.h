// Futex waits through io_uring (Linux 6.7+: IORING_OP_FUTEX_WAIT). Each wait
// is one request in the kernel; the ring's descriptor becomes readable when a
// request completes, so the event loop itself is woken: one hop from a
// waker's FUTEX_WAKE to JS, and no thread however many waits are pending.
// Raw system calls (io_uring_setup / io_uring_enter / mmap); see io_uring(7).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "wait/wait_backend.h"

namespace shmkit {

class UringWaiter : public WaitBackend {
 public:
  // nullptr where io_uring cannot wait on futexes: kernel < 6.7, io_uring
  // disabled (sysctl kernel.io_uring_disabled, seccomp in containers), macOS.
  static std::unique_ptr<UringWaiter> Create();
  virtual ~UringWaiter() = default;

  // The descriptor to poll for readability.
  virtual int fd() const = 0;
  // ArmWord queues a request (EAGAIN: the submission queue has no room);
  // Disarm asks the kernel to drop it; Drain reads what the kernel posted.
};

}  // namespace shmkit

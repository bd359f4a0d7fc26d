// Linux futexes without FUTEX_PRIVATE_FLAG, so waiters in other processes
// that map the same page are found by the kernel.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "wait.h"

namespace shmkit {

const char* const kWaitSyscall = "futex";
const char* const kWakeSyscall = "futex";

WaitResult WaitOnAddress(int32_t* addr, int32_t expected, int64_t timeout_ns,
                         int* error) {
  struct timespec ts;
  struct timespec* timeout = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1000000000;
    ts.tv_nsec = timeout_ns % 1000000000;
    timeout = &ts;
  }
  // FUTEX_WAIT takes a relative timeout measured on CLOCK_MONOTONIC.
  long rc = syscall(SYS_futex, addr, FUTEX_WAIT, expected, timeout, nullptr, 0);
  if (rc == 0) return WaitResult::kWoken;
  switch (errno) {
    case EAGAIN: return WaitResult::kNotEqual;
    case ETIMEDOUT: return WaitResult::kTimedOut;
    case EINTR: return WaitResult::kInterrupted;
    default:
      *error = errno;
      return WaitResult::kInterrupted;
  }
}

int WakeAddress(int32_t* addr, int32_t count) {
  long rc = syscall(SYS_futex, addr, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return static_cast<int>(rc);
}

}  // namespace shmkit

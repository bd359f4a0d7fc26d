// Linux futexes without FUTEX_PRIVATE_FLAG, so waiters in other processes
// that map the same page are found by the kernel.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>

#include "sys/futex.h"

#ifndef __NR_futex_waitv
#define __NR_futex_waitv 449
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif

namespace shmkit {

const char* const kWaitSyscall = "futex";
const char* const kWakeSyscall = "futex";

namespace {
// Same layout as the kernel's struct futex_waitv (linux/futex.h, 5.16+),
// spelled out so that older headers build too.
struct FutexWaitv {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
std::atomic<bool> waitv_missing{false};
}  // namespace

int64_t MonotonicNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

WaitResult WaitOnAddress(int32_t* addr, int32_t expected, int64_t timeout_ns, int* error) {
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
    case EAGAIN:
      return WaitResult::kNotEqual;
    case ETIMEDOUT:
      return WaitResult::kTimedOut;
    case EINTR:
      return WaitResult::kInterrupted;
    default:
      *error = errno;
      return WaitResult::kInterrupted;
  }
}

int WakeAddress(int32_t* addr, int32_t count) {
  long rc = syscall(SYS_futex, addr, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return static_cast<int>(rc);
}

int WaitOnAny(const WaitWord* words, size_t count) {
  if (waitv_missing.load(std::memory_order_relaxed)) return -ENOSYS;
  if (count > kMaxWaitWords) return -EINVAL;
  FutexWaitv waitv[kMaxWaitWords];
  for (size_t i = 0; i < count; i++) {
    waitv[i] = {static_cast<uint32_t>(words[i].expected), reinterpret_cast<uint64_t>(words[i].addr), FUTEX2_SIZE_U32,
                0};
  }
  long rc = syscall(__NR_futex_waitv, waitv, count, 0, nullptr, CLOCK_MONOTONIC);
  if (rc >= 0) return static_cast<int>(rc);
  if (errno == EAGAIN || errno == EINTR) return -1;
  if (errno == ENOSYS) waitv_missing.store(true, std::memory_order_relaxed);
  return -errno;
}

}  // namespace shmkit

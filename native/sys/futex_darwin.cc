// macOS: os_sync_wait_on_address with OS_SYNC_WAIT_ON_ADDRESS_SHARED (macOS
// 14.4+, <os/os_sync_wait_on_address.h>), else the older __ulock_wait /
// __ulock_wake with UL_COMPARE_AND_WAIT_SHARED (macOS 10.12+; what libc++ and
// other runtimes use for the same purpose). Written from the manuals and the
// xnu headers: the Linux build machines cannot run it; macOS CI does.
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include <climits>

#include "sys/futex.h"

#if __has_include(<os/os_sync_wait_on_address.h>)
#include <os/os_sync_wait_on_address.h>
#define SHMKIT_HAVE_OS_SYNC 1
#endif

extern "C" {
int __ulock_wait(uint32_t operation, void* addr, uint64_t value, uint32_t timeout_us);
int __ulock_wake(uint32_t operation, void* addr, uint64_t wake_value);
}

namespace shmkit {

namespace {
constexpr uint32_t kUlCompareAndWaitShared = 3;
constexpr uint32_t kUlfWakeAll = 0x00000100;
constexpr uint32_t kUlfNoErrno = 0x01000000;
}  // namespace

const char* const kWaitSyscall = "os_sync_wait_on_address";

int64_t MonotonicNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// macOS cannot sleep on several addresses in one call.
int WaitOnAny(const WaitWord*, size_t) { return -ENOSYS; }
const char* const kWakeSyscall = "os_sync_wake_by_address";

WaitResult WaitOnAddress(int32_t* addr, int32_t expected, int64_t timeout_ns, int* error) {
  // No userspace read of *addr: an async waiter's mapping may be unmapped
  // under it, and the kernel compares (and reports EFAULT) safely.
  int rc;
#ifdef SHMKIT_HAVE_OS_SYNC
  if (__builtin_available(macOS 14.4, *)) {
    if (timeout_ns < 0) {
      rc = os_sync_wait_on_address(addr, static_cast<uint32_t>(expected), 4, OS_SYNC_WAIT_ON_ADDRESS_SHARED);
    } else {
      rc =
          os_sync_wait_on_address_with_timeout(addr, static_cast<uint32_t>(expected), 4, OS_SYNC_WAIT_ON_ADDRESS_SHARED,
                                               OS_CLOCK_MACH_ABSOLUTE_TIME, static_cast<uint64_t>(timeout_ns));
    }
    if (rc >= 0) return WaitResult::kWoken;
    if (errno == ETIMEDOUT) return WaitResult::kTimedOut;
    if (errno == EINTR || errno == EFAULT) return WaitResult::kInterrupted;
    *error = errno;
    return WaitResult::kInterrupted;
  }
#endif
  uint32_t timeout_us = 0;  // 0 means no limit for __ulock_wait
  if (timeout_ns >= 0) {
    int64_t us = (timeout_ns + 999) / 1000;
    timeout_us = us > UINT32_MAX ? UINT32_MAX : (us == 0 ? 1 : static_cast<uint32_t>(us));
  }
  rc = __ulock_wait(kUlCompareAndWaitShared | kUlfNoErrno, addr, static_cast<uint32_t>(expected), timeout_us);
  if (rc >= 0) return WaitResult::kWoken;
  if (rc == -ETIMEDOUT) return WaitResult::kTimedOut;
  if (rc == -EINTR || rc == -EFAULT) return WaitResult::kInterrupted;
  *error = -rc;
  return WaitResult::kInterrupted;
}

int WakeAddress(int32_t* addr, int32_t count) {
#ifdef SHMKIT_HAVE_OS_SYNC
  if (__builtin_available(macOS 14.4, *)) {
    int rc = count == 1 ? os_sync_wake_by_address_any(addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED)
                        : os_sync_wake_by_address_all(addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED);
    // ENOENT: nobody was waiting, which is not an error for a wake.
    return (rc == 0 || errno == ENOENT) ? 0 : -1;
  }
#endif
  uint32_t op = kUlCompareAndWaitShared | kUlfNoErrno | (count == 1 ? 0 : kUlfWakeAll);
  int rc = __ulock_wake(op, addr, 0);
  if (rc >= 0 || rc == -ENOENT) return 0;
  errno = -rc;
  return -1;
}

}  // namespace shmkit

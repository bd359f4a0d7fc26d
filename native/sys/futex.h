// Waiting on and waking a 32-bit word in shared memory, across processes:
// the cross-process Atomics.wait / Atomics.notify that V8 does not give.
// Linux: non-private futexes (and futex_waitv for several words at once).
// macOS: os_sync_wait_on_address (14.4+) with the shared flag, else
// __ulock_wait with UL_COMPARE_AND_WAIT_SHARED. Thin: one system call each.
#pragma once
#include <cstddef>
#include <cstdint>

namespace shmkit {

enum class WaitResult { kWoken, kNotEqual, kTimedOut, kInterrupted };

// Sleeps while *addr == expected, for at most timeout_ns (< 0: no limit).
// One system call: may return kWoken spuriously or kInterrupted on a signal;
// callers loop with a recomputed deadline. On any other failure returns
// kInterrupted with *error set to the errno.
WaitResult WaitOnAddress(int32_t* addr, int32_t expected, int64_t timeout_ns, int* error);

// Wakes up to `count` waiters on addr (INT32_MAX: all). Returns how many were
// woken where the platform says so, else 0; -1 with errno on failure.
int WakeAddress(int32_t* addr, int32_t count);

// One word of a WaitOnAny call.
struct WaitWord {
  int32_t* addr;
  int32_t expected;
};

// The most words one WaitOnAny call takes.
constexpr size_t kMaxWaitWords = 128;

// Sleeps until any word differs from its expected value or is woken (no
// timeout). Returns the index of a woken word, -1 if some word already
// differed or the sleep was interrupted, or -errno: ENOSYS where the
// platform cannot wait on several words at once (macOS; Linux < 5.16),
// EFAULT if an address is not mapped.
int WaitOnAny(const WaitWord* words, size_t count);

// Monotonic clock in nanoseconds.
int64_t MonotonicNowNs();

extern const char* const kWaitSyscall;
extern const char* const kWakeSyscall;

}  // namespace shmkit

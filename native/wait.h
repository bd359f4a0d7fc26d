// Blocking wait / wake on a 32-bit word in shared memory, across processes:
// the cross-process Atomics.wait / Atomics.notify that V8 does not give.
// Linux: a non-private futex. macOS: os_sync_wait_on_address (14.4+) with the
// shared flag, else __ulock_wait with UL_COMPARE_AND_WAIT_SHARED.
#pragma once
#include <napi.h>

#include <cstdint>

namespace shmkit {

enum class WaitResult { kWoken, kNotEqual, kTimedOut, kInterrupted };

// Sleeps while *addr == expected, for at most timeout_ns (< 0: no limit).
// One system call: may return kWoken spuriously or kInterrupted on a signal;
// callers loop with a recomputed deadline. Sets errno on other failures and
// returns kInterrupted only for EINTR.
WaitResult WaitOnAddress(int32_t* addr, int32_t expected, int64_t timeout_ns,
                         int* error);

// Wakes up to `count` waiters on addr (INT32_MAX: all). Returns how many were
// woken where the platform says so, else 0; -1 with errno on failure.
int WakeAddress(int32_t* addr, int32_t count);

extern const char* const kWaitSyscall;
extern const char* const kWakeSyscall;

void InitWait(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

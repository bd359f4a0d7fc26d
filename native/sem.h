// Named POSIX semaphores (sem_open and friends), so a name works from C and
// from Python's posix_ipc too. Not crash-safe by nature: a holder that dies
// does not give its unit back (that is POSIX); shmkit's Lock does not use them.
#pragma once
#include <napi.h>
#include <semaphore.h>

#include <cstdint>

namespace shmkit {

// sem_wait with a relative timeout (< 0: none). Returns 0, ETIMEDOUT, EINTR
// or another errno. Linux: sem_clockwait on CLOCK_MONOTONIC. macOS has no
// sem_timedwait: sem_trywait with short sleeps.
int SemTimedWait(sem_t* sem, int64_t timeout_ns);

extern const char* const kSemWaitSyscall;

void InitSem(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

// Named POSIX semaphores (sem_open and friends), so a name works from C and
// from Python's posix_ipc too. Not crash-safe by nature: a holder that dies
// does not give its unit back (that is POSIX); shmkit's Lock does not use them.
#pragma once
#include <napi.h>
#include <semaphore.h>

#include <cstdint>
#include <memory>

#include "core/env_state.h"

namespace shmkit {

class SemHandle;

// sem_wait with a relative timeout (< 0: none). Returns 0, ETIMEDOUT, EINTR
// or another errno. Linux: sem_clockwait on CLOCK_MONOTONIC. macOS has no
// sem_timedwait: sem_trywait with short sleeps.
int SemTimedWait(sem_t* sem, int64_t timeout_ns);

extern const char* const kSemWaitSyscall;

// The open semaphore whose id is the call's first argument; ERR_SHM_CLOSED
// if it is closed.
std::shared_ptr<SemHandle> SemById(const Napi::CallbackInfo& info);

// How many units can still be posted before the value reaches SEM_VALUE_MAX,
// or -1 where the value cannot be read (macOS has no sem_getvalue).
int64_t SemRoom(sem_t* sem);

// One sem_open'd semaphore. sem_close runs when the last user lets go: JS
// (close, or environment teardown) and any pending wait's backend.
class SemHandle : public TeardownResource {
 public:
  explicit SemHandle(sem_t* sem) : sem_(sem) {}
  ~SemHandle() override { sem_close(sem_); }
  void Release() override { closed_ = true; }
  bool closed() const { return closed_; }

  // Takes a unit if one is free now (EINTR retried); false if none. Other
  // failures (EINVAL) also read as none.
  bool TryTake();
  // Takes a unit within timeout_ns: 0, ETIMEDOUT, EINTR or an errno.
  int TakeWithin(int64_t timeout_ns) { return SemTimedWait(sem_, timeout_ns); }
  // Gives a unit back (sem_post); 0 or an errno.
  int Give();
  sem_t* sem() const { return sem_; }

 private:
  sem_t* sem_;
  bool closed_ = false;
};

void InitSem(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

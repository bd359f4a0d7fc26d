// The portable backend of the wait engine: one thread per environment that
// serves every pending wait the engine gives it, never libuv's pool (four
// pending pool waits stalled fs.readFile for a second) and never a thread per
// wait (a thread limit then aborted the process). docs/design.md.
//
// Waits on the same word with the same expected value share one kernel wait
// ("a source"); a wake ends all of them (callers re-check their condition).
// How the thread sleeps depends on what is pending:
//  - only futex words, at most 127 of them, on Linux 5.16+: one futex_waitv
//    on all of them plus a control word that interrupts it when the set
//    changes;
//  - exactly one source: a sliced sleep on it alone (a lone word is woken to
//    re-plan; a lone semaphore is looked at again after each slice);
//  - anything else: poll every source, sleeping on the control word between
//    rounds with a backoff from 50 us to 2 ms.
// Semaphore units taken for a wait that ended meanwhile are posted back.
#pragma once
#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "wait/wait_backend.h"

namespace shmkit {

class WaiterThread : public WaitBackend {
 public:
  // `report` is signalled (uv_async_send) whenever completions are ready.
  explicit WaiterThread(uv_async_t* report);
  ~WaiterThread() override;  // stops the thread; it may finish its current slice later

  // 0, or EAGAIN if the thread cannot be started (a thread limit).
  int ArmWord(uint64_t id, int32_t* addr, int32_t expected) override;
  int ArmSemaphore(uint64_t id, std::shared_ptr<SemHandle> sem);
  // A completion already queued still comes (the engine ignores it, giving
  // back any semaphore unit).
  void Disarm(uint64_t id) override;
  void Drain(std::vector<Completion>* out) override;

  struct State;

 private:
  int Arm(uint64_t id, int32_t* addr, int32_t expected, std::shared_ptr<SemHandle> sem);
  std::shared_ptr<State> state_;
};

}  // namespace shmkit

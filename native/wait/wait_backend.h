// What the wait engine (wait_engine.h) asks of each way it can sleep on a
// futex word: arm a wait, disarm it, and hand over what has completed. The
// engine keeps everything else (Promises, deadlines, cancel, close); a
// backend knows nothing of N-API or of the engine. Backends:
//  - io_uring (uring.h): one kernel request per wait, its descriptor polled
//    by the event loop;
//  - the waiter thread (waiter_thread.h): one thread per environment, the
//    portable backend, and the only one for semaphores;
//  - the doorbell (doorbell.h): a socket another process rings; every wait
//    armed on it ends at a ring (its caller re-checks the word).
// test/wait-suite.ts runs the same conformance suite on each.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace shmkit {

class SemHandle;

// How a wait ended; the Promise resolves with its name (layout.h kWait*).
enum class WaitEnd { kWoken, kNotEqual, kTimedOut, kCancelled, kClosed };

// What a backend reports about a wait it armed.
struct Completion {
  uint64_t id;
  WaitEnd end = WaitEnd::kWoken;
  int error = 0;                    // an errno: the wait failed
  std::shared_ptr<SemHandle> unit;  // a semaphore unit taken for this wait
};

class WaitBackend {
 public:
  virtual ~WaitBackend() = default;
  // A wait for *addr to change from `expected`: 0, or an errno (EAGAIN: no
  // room now; the engine drains completions and tries again, or another
  // backend).
  virtual int ArmWord(uint64_t id, int32_t* addr, int32_t expected) = 0;
  // After this the wait gets no completion, unless one was already handed
  // over or queued (the engine ignores completions of ended waits).
  virtual void Disarm(uint64_t id) = 0;
  // Moves the completions ready now into `out`.
  virtual void Drain(std::vector<Completion>* out) = 0;
};

}  // namespace shmkit

// JS bindings of waiting on shared-memory words: wait (blocking this thread),
// waitAsync (through the wait engine), cancelWait, notify, spin.
#include "wait/wait.h"

#include <sched.h>

#include <cerrno>
#include <climits>
#include <cmath>

#include "core/atomics.h"
#include "core/bindings.h"
#include "core/errors.h"
#include "sys/futex.h"
#include "sys/sem.h"
#include "wait/doorbell.h"
#include "wait/wait_engine.h"

namespace shmkit {

namespace {

// The word at int32Array[index]. lib/ validated the arguments; this is the
// last guard against a detached (closed) buffer, which has length 0.
int32_t* WordAt(const Napi::CallbackInfo& info) {
  Napi::Int32Array array = info[0].As<Napi::Int32Array>();
  uint32_t index = info[1].As<Napi::Number>().Uint32Value();
  if (index >= array.ElementLength() || array.Data() == nullptr) {
    throw CodeError(info.Env(), "ERR_SHM_CLOSED", "the shared memory behind this view is closed");
  }
  return array.Data() + index;
}

// wait(int32Array, index, expected, timeoutMs) -> 'ok'|'not-equal'|'timed-out'
// Blocks the calling thread for at most timeoutMs (lib/ slices long waits so
// a worker being terminated, or a dead lock holder, is noticed). Signals
// (EINTR) are retried with the time left, so a timeout is never stretched.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  int32_t* addr = WordAt(info);
  int32_t expected = info[2].As<Napi::Number>().Int32Value();
  double timeout_ms = info[3].As<Napi::Number>().DoubleValue();
  int64_t deadline = std::isinf(timeout_ms) ? -1 : MonotonicNowNs() + static_cast<int64_t>(timeout_ms * 1e6);
  for (;;) {
    int64_t remaining = -1;
    if (deadline >= 0) {
      remaining = deadline - MonotonicNowNs();
      if (remaining <= 0) return Napi::String::New(info.Env(), "timed-out");
    }
    int error = 0;
    switch (WaitOnAddress(addr, expected, remaining, &error)) {
      case WaitResult::kWoken:
        return Napi::String::New(info.Env(), "ok");
      case WaitResult::kNotEqual:
        return Napi::String::New(info.Env(), "not-equal");
      case WaitResult::kTimedOut:
        return Napi::String::New(info.Env(), "timed-out");
      case WaitResult::kInterrupted:
        if (error != 0) throw ErrnoError(info.Env(), error, kWaitSyscall);
        continue;
    }
  }
}

// waitAsync(int32Array, index, expected, timeoutMs, bell) -> [Promise, id];
// the Promise resolves 'ok' | 'not-equal' | 'timed-out' | 'cancelled' |
// 'closed'. With `bell`, a ring of this environment's doorbell ends it too.
Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
  int32_t* addr = WordAt(info);
  int32_t expected = info[2].As<Napi::Number>().Int32Value();
  double timeout_ms = info[3].As<Napi::Number>().DoubleValue();
  bool bell = info[4].ToBoolean();
  return WaitEngine::Get(info.Env())->WaitWord(info.Env(), info[0], addr, expected, timeout_ms, bell);
}

// semWaitAsync(id, timeoutMs) -> [Promise<'ok'|'timed-out'|'cancelled'|'closed'>, waitId]
Napi::Value SemWaitAsync(const Napi::CallbackInfo& info) {
  auto sem = SemById(info);
  return WaitEngine::Get(info.Env())->WaitSemaphore(info.Env(), sem, info[1].As<Napi::Number>().DoubleValue());
}

// spin(int32Array, index, expected, ms) -> true once the word differs from
// `expected`, false after about `ms` milliseconds of loads. A spin in C++,
// not in lib/: a JS loop is compiled on the fly (on a small machine, while
// both sides of a request/reply spin) and allocates a heap number per clock
// read; this one does neither (docs/design.md, "Adaptive spinning").
Napi::Value Spin(const Napi::CallbackInfo& info) {
  int32_t* addr = WordAt(info);
  int32_t expected = info[2].As<Napi::Number>().Int32Value();
  double ms = info[3].As<Napi::Number>().DoubleValue();
  return Napi::Boolean::New(info.Env(), SpinWhileEqual(addr, expected, ms));
}

// doorbellId() -> this environment's doorbell id, or 0 where there is none.
Napi::Value DoorbellId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), WaitEngine::Get(info.Env())->DoorbellId());
}

// doorbellRings() -> the rings this environment's doorbell has taken (for tests).
Napi::Value DoorbellRings(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(WaitEngine::Get(info.Env())->rings()));
}

// sweepDoorbells(): removes doorbell files whose process died (doorbell.h).
Napi::Value SweepDoorbells(const Napi::CallbackInfo& info) {
  SweepStaleDoorbells();
  return info.Env().Undefined();
}

// cancelWait(id): the wait's Promise resolves 'cancelled' (if still pending).
Napi::Value CancelWait(const Napi::CallbackInfo& info) {
  double id = info[0].As<Napi::Number>().DoubleValue();
  WaitEngine::Get(info.Env())->Cancel(static_cast<uint64_t>(id));
  return info.Env().Undefined();
}

// notify(int32Array, index, count, flag?) -> number of futex waiters woken
// (Linux) or 0. `flag` is a channel's waiting flag as the waker read it: a
// doorbell id is rung instead of the futex when it can be (doorbell.h).
Napi::Value Notify(const Napi::CallbackInfo& info) {
  int32_t* addr = WordAt(info);
  double count = info[2].As<Napi::Number>().DoubleValue();
  uint32_t flag = info.Length() > 3 ? info[3].As<Napi::Number>().Uint32Value() : 0;
  int woken = NotifyWord(addr, count >= INT32_MAX ? INT32_MAX : static_cast<int32_t>(count), flag);
  if (woken < 0) throw ErrnoError(info.Env(), errno, kWakeSyscall);
  return Napi::Number::New(info.Env(), woken);
}

// waitBackend() -> 'io_uring' | 'thread': how this environment's async word
// waits sleep (io_uring is tried at the first one).
Napi::Value WaitBackendName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), WaitEngine::Get(info.Env())->backend_name());
}

// Tells the CPU this is a spin: the loads go out slower, so the writer
// gets the watched line sooner (docs/design.md), and a sibling hyperthread
// gets the core.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

bool SpinWhileEqual(const int32_t* addr, int32_t expected, double ms) {
  int64_t until = MonotonicNowNs() + static_cast<int64_t>(ms * 1e6);
  for (;;) {
    // The clock every 64 loads: a load is a few ns, a clock read some 20-50.
    for (int i = 0; i < 64; i++) {
      if (Load(addr) != static_cast<uint32_t>(expected)) return true;
      CpuRelax();
    }
    if (MonotonicNowNs() >= until) return false;
  }
}

int NotifyWord(int32_t* addr, int32_t count, uint32_t flag) {
  if (RingDoorbell(flag)) return 0;
  return WakeAddress(addr, count);
}

void InitWait(Napi::Env env, Napi::Object exports) {
  Bind(env, exports,
       {
           {"wait", Wait},
           {"waitAsync", WaitAsync},
           {"semWaitAsync", SemWaitAsync},
           {"cancelWait", CancelWait},
           {"notify", Notify},
           {"waitBackend", WaitBackendName},
           {"spin", Spin},
           {"doorbellId", DoorbellId},
           {"sweepDoorbells", SweepDoorbells},
           {"doorbellRings", DoorbellRings},
       });
}

}  // namespace shmkit

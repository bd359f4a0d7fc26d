#include "wait.h"

#include <time.h>

#include <cerrno>
#include <climits>
#include <cmath>

#include "errors.h"
#include "waiter.h"

namespace shmkit {

namespace {

int64_t MonotonicNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The word at int32Array[index]. lib/ validated the arguments; this is the
// last guard against a detached (closed) buffer, which has length 0.
int32_t* WordAt(const Napi::CallbackInfo& info) {
  Napi::Int32Array array = info[0].As<Napi::Int32Array>();
  uint32_t index = info[1].As<Napi::Number>().Uint32Value();
  if (index >= array.ElementLength() || array.Data() == nullptr) {
    throw CodeError(info.Env(), "ERR_SHM_CLOSED",
                    "the shared memory behind this view is closed");
  }
  return array.Data() + index;
}

// Deadline in monotonic ns for a timeout in ms; -1 for none (Infinity).
int64_t DeadlineFor(double timeout_ms) {
  if (std::isinf(timeout_ms) || timeout_ms > 9e15) return -1;
  return MonotonicNowNs() + static_cast<int64_t>(timeout_ms * 1e6);
}

constexpr int64_t kNoSlice = -1;
// Async waits sleep in slices so that a cancel that races the wake still
// ends the thread soon.
constexpr int64_t kAsyncSliceNs = 100 * 1000000LL;

// Waits until woken, the word differs, the deadline passes or `cancelled`.
// Signals (EINTR) are retried with the time left recomputed, so a timeout is
// never stretched by them.
WaitOutcome WaitLoop(int32_t* addr, int32_t expected, int64_t deadline, int64_t slice,
                     const std::atomic<bool>* cancelled) {
  for (;;) {
    if (cancelled && *cancelled) return {"cancelled"};
    int64_t remaining = -1;
    if (deadline >= 0) {
      remaining = deadline - MonotonicNowNs();
      if (remaining <= 0) return {"timed-out"};
    }
    if (slice != kNoSlice && (remaining < 0 || remaining > slice)) remaining = slice;
    int error = 0;
    switch (WaitOnAddress(addr, expected, remaining, &error)) {
      case WaitResult::kWoken: return {"ok"};
      case WaitResult::kNotEqual: return {"not-equal"};
      case WaitResult::kTimedOut:
        if (slice != kNoSlice) continue;  // a slice ended, not the wait
        return {"timed-out"};
      case WaitResult::kInterrupted:
        if (error != 0) return {"", error, kWaitSyscall};
        continue;
    }
  }
}

// wait(int32Array, index, expected, timeoutMs) -> 'ok'|'not-equal'|'timed-out'
// Blocks the calling thread; timeoutMs may be Infinity.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  int32_t* addr = WordAt(info);
  int32_t expected = info[2].As<Napi::Number>().Int32Value();
  int64_t deadline = DeadlineFor(info[3].As<Napi::Number>().DoubleValue());
  WaitOutcome out = WaitLoop(addr, expected, deadline, kNoSlice, nullptr);
  if (out.error != 0) throw ErrnoError(info.Env(), out.error, out.syscall);
  return Napi::String::New(info.Env(), out.result);
}

// waitAsync(int32Array, index, expected, timeoutMs) -> [Promise<result>, id]
// The same wait on a thread of its own; cancelWait(id) ends it early with
// 'cancelled'. The thread touches the word only through the kernel, so an
// unmap under it yields EFAULT (a rejected Promise), never a crash.
Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
  int32_t* addr = WordAt(info);
  int32_t expected = info[2].As<Napi::Number>().Int32Value();
  int64_t deadline = DeadlineFor(info[3].As<Napi::Number>().DoubleValue());
  return StartAsyncWait(
      info.Env(),
      [=](const std::atomic<bool>& cancelled) {
        return WaitLoop(addr, expected, deadline, kAsyncSliceNs, &cancelled);
      },
      [=] { WakeAddress(addr, INT32_MAX); });
}

// notify(int32Array, index, count) -> number of waiters woken (Linux) or 0
Napi::Value Notify(const Napi::CallbackInfo& info) {
  int32_t* addr = WordAt(info);
  double count = info[2].As<Napi::Number>().DoubleValue();
  int32_t n = count >= INT32_MAX ? INT32_MAX : static_cast<int32_t>(count);
  int woken = WakeAddress(addr, n);
  if (woken < 0) throw ErrnoError(info.Env(), errno, kWakeSyscall);
  return Napi::Number::New(info.Env(), woken);
}

}  // namespace

void InitWait(Napi::Env env, Napi::Object exports) {
  exports.Set("wait", Napi::Function::New(env, Wait, "wait"));
  exports.Set("waitAsync", Napi::Function::New(env, WaitAsync, "waitAsync"));
  exports.Set("notify", Napi::Function::New(env, Notify, "notify"));
}

}  // namespace shmkit

#include "wait.h"

#include <time.h>

#include <cerrno>
#include <climits>
#include <cmath>

#include "errors.h"

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

// wait(int32Array, index, expected, timeoutMs) -> 'ok'|'not-equal'|'timed-out'
// timeoutMs may be Infinity. Signals (EINTR) are retried with the deadline
// recomputed, so a timeout is never stretched by them.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* addr = WordAt(info);
  int32_t expected = info[2].As<Napi::Number>().Int32Value();
  double timeout_ms = info[3].As<Napi::Number>().DoubleValue();
  bool forever = std::isinf(timeout_ms) || timeout_ms > 9e15;
  int64_t deadline =
      forever ? 0 : MonotonicNowNs() + static_cast<int64_t>(timeout_ms * 1e6);
  for (;;) {
    int64_t remaining = -1;
    if (!forever) {
      remaining = deadline - MonotonicNowNs();
      if (remaining <= 0) return Napi::String::New(env, "timed-out");
    }
    int error = 0;
    switch (WaitOnAddress(addr, expected, remaining, &error)) {
      case WaitResult::kWoken: return Napi::String::New(env, "ok");
      case WaitResult::kNotEqual: return Napi::String::New(env, "not-equal");
      case WaitResult::kTimedOut: return Napi::String::New(env, "timed-out");
      case WaitResult::kInterrupted:
        if (error != 0) throw ErrnoError(env, error, kWaitSyscall);
        continue;
    }
  }
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
  exports.Set("notify", Napi::Function::New(env, Notify, "notify"));
}

}  // namespace shmkit

// Async waits on threads the addon owns — never libuv's pool, where four
// pending waits stalled fs.readFile for a second (DESIGN.md, decision 4).
// Each pending wait has a detached thread of its own that runs a blocking
// operation, then settles a Promise through a thread-safe function. The
// thread is never joined: process.exit() and worker termination do not wait
// for it, and once the environment is torn down it no longer calls into it.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <string>

namespace shmkit {

// What a blocking operation reports: a result string for the Promise, or an
// errno (then `syscall` names the call) to reject it with.
struct WaitOutcome {
  std::string result;
  int error = 0;
  const char* syscall = nullptr;
};

// The operation runs on the waiter thread. It must return soon after
// `cancelled` turns true: poll it between slices of at most ~100 ms, and let
// `wake` (run on the JS thread at cancel) cut a slice short.
using BlockingOp = std::function<WaitOutcome(const std::atomic<bool>& cancelled)>;

// Starts `op` on a new thread; returns [promise, id]. cancelWait(id) from JS
// asks it to stop (the Promise then settles with "cancelled").
Napi::Value StartAsyncWait(Napi::Env env, BlockingOp op, std::function<void()> wake);

void InitWaiter(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

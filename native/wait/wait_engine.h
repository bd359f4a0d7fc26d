// The per-environment engine behind every async wait (docs/design.md, "The
// wait engine"). JS asks for a wait and gets a Promise; the engine arms it on
// a backend, settles it on the loop thread when the backend reports, and owns
// everything else about it in one place: deadlines (one uv timer), cancel
// (abort), close of the memory or semaphore it waits on, the event loop's
// reference while any wait is pending, and teardown with the environment.
//
// Backends (wait_backend.h): io_uring where the kernel has futex waits, else
// the waiter thread (always for semaphores); a wait that says so (a
// channel's reader or writer) sleeps on this environment's doorbell instead.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "wait/wait_backend.h"

namespace shmkit {

class DoorbellBackend;
class UringWaiter;
class WaiterThread;

class WaitEngine {
 public:
  // Created at addon load for each environment; freed at its teardown.
  static void Install(napi_env env);
  static WaitEngine* Get(napi_env env);

  // A wait on a futex word inside `array`: [Promise, id]. With `bell`, a ring
  // of this environment's doorbell ends it too.
  Napi::Value WaitWord(Napi::Env env, napi_value array, int32_t* addr, int32_t expected, double timeout_ms, bool bell);
  // A wait that takes one unit of `sem`: [Promise, id].
  Napi::Value WaitSemaphore(Napi::Env env, std::shared_ptr<SemHandle> sem, double timeout_ms);
  // Ends a pending wait with 'cancelled' (no-op if it already ended).
  void Cancel(uint64_t id);
  // Ends every pending wait on `owner` (a Mapping or a SemHandle) with
  // 'closed', before it is unmapped or closed.
  void EndWaitsOf(const void* owner);

  const char* backend_name() const;
  // This environment's doorbell id (opened at the first call), or 0 where
  // there is none.
  uint32_t DoorbellId();
  // Rings its doorbell has taken.
  uint64_t rings() const;

 private:
  struct Pending {
    napi_deferred deferred = nullptr;
    napi_ref keep_alive = nullptr;  // the Int32Array: its memory stays mapped while waited on
    const void* owner = nullptr;
    std::multimap<int64_t, uint64_t>::iterator deadline;
    bool has_deadline = false;
    WaitBackend* backend = nullptr;  // where it is armed
    std::shared_ptr<SemHandle> sem;
  };

  explicit WaitEngine(napi_env env);
  ~WaitEngine();

  Napi::Value Start(Napi::Env env, uint64_t id, Pending pending, double timeout_ms);
  void Settle(uint64_t id, WaitEnd end, int error, bool disarm);
  void Deliver(std::vector<Completion>& batch);
  void DeliverFrom(WaitBackend* backend, bool from_loop);
  int ArmWord(uint64_t id, int32_t* addr, int32_t expected, bool bell, WaitBackend** armed_on);
  void RearmTimer();
  bool EnsureUring();
  bool Poll(uv_poll_t* handle, int fd, uv_poll_cb callback);

  static void OnUringReadable(uv_poll_t* handle, int status, int events);
  static void OnDoorbell(uv_poll_t* handle, int status, int events);
  static void OnThreadReport(uv_async_t* handle);
  static void OnTimer(uv_timer_t* handle);
  static void Teardown(napi_async_cleanup_hook_handle handle, void* arg);

  napi_env env_;
  uv_loop_t* loop_ = nullptr;
  napi_ref resource_ = nullptr;
  napi_async_context context_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;

  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Pending> pending_;
  std::unordered_map<const void*, std::unordered_set<uint64_t>> by_owner_;
  std::multimap<int64_t, uint64_t> deadlines_;
  int64_t timer_due_ = -1;

  // io_uring and the doorbell are set up at first use, or found unavailable.
  enum class Lazy { kUntried, kReady, kUnavailable };
  Lazy uring_state_;
  std::unique_ptr<UringWaiter> uring_;
  std::unique_ptr<WaiterThread> thread_;
  Lazy bell_state_;
  std::unique_ptr<DoorbellBackend> bell_;

  uv_poll_t uring_poll_;
  uv_poll_t bell_poll_;
  uv_async_t thread_report_;  // also holds the loop open while any wait is pending
  uv_timer_t timer_;
  int handles_open_ = 0;
};

void InitWaitEngine(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

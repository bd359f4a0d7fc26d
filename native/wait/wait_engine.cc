#include "wait/wait_engine.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/env_state.h"
#include "core/errors.h"
#include "core/layout.h"
#include "sys/futex.h"
#include "sys/sem.h"
#include "sys/shm.h"
#include "wait/doorbell.h"
#include "wait/uring.h"
#include "wait/waiter_thread.h"

namespace shmkit {

namespace {

const char* EndName(WaitEnd end) {
  switch (end) {
    case WaitEnd::kWoken:
      return layout::kWaitOk;
    case WaitEnd::kNotEqual:
      return layout::kWaitNotEqual;
    case WaitEnd::kTimedOut:
      return layout::kWaitTimedOut;
    case WaitEnd::kCancelled:
      return layout::kWaitCancelled;
    case WaitEnd::kClosed:
      return layout::kWaitClosed;
  }
  return layout::kWaitOk;
}

// A deadline in monotonic ns for a timeout in ms; -1 for none.
int64_t DeadlineFor(double timeout_ms) {
  if (std::isinf(timeout_ms) || timeout_ms > 9e15) return -1;
  return MonotonicNowNs() + static_cast<int64_t>(timeout_ms * 1e6);
}

// For tests and benchmarks: SHMKIT_WAIT_BACKEND=thread keeps io_uring out
// (the portable backend then runs on Linux), SHMKIT_DOORBELL=off doorbells.
bool Allowed(const char* variable, const char* off) {
  const char* choice = std::getenv(variable);
  return choice == nullptr || std::strcmp(choice, off) != 0;
}

// What JS code runs in when a uv callback settles Promises: a handle scope
// and a callback scope, whose close runs the microtasks (the awaiting code).
// Not ok() when N-API cannot open them (the environment is going away): a
// uv callback has no one to throw to, so its caller settles nothing then.
class LoopCallbackScope {
 public:
  LoopCallbackScope(napi_env env, napi_ref resource, napi_async_context context) : env_(env) {
    napi_value object;
    ok_ = napi_open_handle_scope(env, &handles_) == napi_ok &&
          napi_get_reference_value(env, resource, &object) == napi_ok &&
          napi_open_callback_scope(env, object, context, &scope_) == napi_ok;
  }
  ~LoopCallbackScope() {
    if (scope_ != nullptr) (void)napi_close_callback_scope(env_, scope_);
    if (handles_ != nullptr) (void)napi_close_handle_scope(env_, handles_);
  }
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
  napi_env env_;
  napi_handle_scope handles_ = nullptr;
  napi_callback_scope scope_ = nullptr;
};

}  // namespace

WaitEngine::WaitEngine(napi_env env) : env_(env) {
  uring_state_ = Allowed("SHMKIT_WAIT_BACKEND", "thread") ? Lazy::kUntried : Lazy::kUnavailable;
  bell_state_ = Allowed("SHMKIT_DOORBELL", "off") ? Lazy::kUntried : Lazy::kUnavailable;
  Napi::Env e(env);
  Check(e, napi_get_uv_event_loop(env, &loop_), "napi_get_uv_event_loop");
  napi_value resource, name;
  Check(e, napi_create_object(env, &resource), "napi_create_object");
  Check(e, napi_create_reference(env, resource, 1, &resource_), "napi_create_reference");
  Check(e, napi_create_string_utf8(env, "shmkit.wait", NAPI_AUTO_LENGTH, &name), "napi_create_string_utf8");
  Check(e, napi_async_init(env, resource, name, &context_), "napi_async_init");

  uv_async_init(loop_, &thread_report_, OnThreadReport);
  thread_report_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&thread_report_));
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  handles_open_ = 2;
  thread_ = std::make_unique<WaiterThread>(&thread_report_);
}

WaitEngine::~WaitEngine() = default;

void WaitEngine::Install(napi_env env) {
  auto* engine = new WaitEngine(env);
  EnvState::Get(env)->set_wait_engine(engine);
  EnvState::Get(env)->set_end_waits_of([engine](const void* owner) { engine->EndWaitsOf(owner); });
  Check(Napi::Env(env), napi_add_async_cleanup_hook(env, Teardown, engine, &engine->cleanup_),
        "napi_add_async_cleanup_hook");
}

WaitEngine* WaitEngine::Get(napi_env env) { return EnvState::Get(env)->wait_engine(); }

const char* WaitEngine::backend_name() const { return uring_state_ == Lazy::kUnavailable ? "thread" : "io_uring"; }

// Polls `fd` for readability on the loop, without holding the loop open
// (pending waits do that); false if libuv cannot.
bool WaitEngine::Poll(uv_poll_t* handle, int fd, uv_poll_cb callback) {
  if (uv_poll_init(loop_, handle, fd) != 0) return false;
  handle->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(handle));
  uv_poll_start(handle, UV_READABLE, callback);
  handles_open_++;
  return true;
}

bool WaitEngine::EnsureUring() {
  if (uring_state_ == Lazy::kUntried) {
    uring_ = UringWaiter::Create();
    uring_state_ = uring_ && Poll(&uring_poll_, uring_->fd(), OnUringReadable) ? Lazy::kReady : Lazy::kUnavailable;
    if (uring_state_ != Lazy::kReady) uring_.reset();
  }
  return uring_state_ == Lazy::kReady;
}

uint64_t WaitEngine::rings() const { return bell_ ? bell_->rings() : 0; }

uint32_t WaitEngine::DoorbellId() {
  if (bell_state_ == Lazy::kUntried) {
    std::unique_ptr<Doorbell> bell = Doorbell::Open();
    bell_state_ = bell && Poll(&bell_poll_, bell->fd(), OnDoorbell) ? Lazy::kReady : Lazy::kUnavailable;
    if (bell_state_ == Lazy::kReady) bell_ = std::make_unique<DoorbellBackend>(std::move(bell));
  }
  return bell_state_ == Lazy::kReady ? bell_->bell().id() : 0;
}

// Arms a wait on the backend it belongs on: the doorbell for a wait whose
// waker rings it, else io_uring, else the waiter thread. 0 or an errno.
int WaitEngine::ArmWord(uint64_t id, int32_t* addr, int32_t expected, bool bell, WaitBackend** armed_on) {
  // A wait whose waker rings our doorbell sleeps on the doorbell alone: a
  // futex wait beside it made every wake-up slower (its wake runs io_uring
  // task work or the waiter thread on top of the socket's wake).
  if (bell && bell_state_ == Lazy::kReady) {
    *armed_on = bell_.get();
    return bell_->ArmWord(id, addr, expected);
  }
  if (EnsureUring()) {
    int err = uring_->ArmWord(id, addr, expected);
    if (err == EAGAIN) {  // completions must be read before more requests fit
      DeliverFrom(uring_.get(), false);
      err = uring_->ArmWord(id, addr, expected);
    }
    if (err == 0) {
      *armed_on = uring_.get();
      return 0;
    }
  }
  *armed_on = thread_.get();
  return thread_->ArmWord(id, addr, expected);
}

Napi::Value WaitEngine::WaitWord(Napi::Env env, napi_value array, int32_t* addr, int32_t expected, double timeout_ms,
                                 bool bell) {
  uint64_t id = next_id_++;
  Pending pending;
  pending.owner = MappingAt(addr);
  Check(env, napi_create_reference(env, array, 1, &pending.keep_alive), "napi_create_reference");
  if (int err = ArmWord(id, addr, expected, bell, &pending.backend)) {
    (void)napi_delete_reference(env, pending.keep_alive);
    throw ErrnoError(env, err, "pthread_create");
  }
  return Start(env, id, std::move(pending), timeout_ms);
}

Napi::Value WaitEngine::WaitSemaphore(Napi::Env env, std::shared_ptr<SemHandle> sem, double timeout_ms) {
  uint64_t id = next_id_++;
  if (int err = thread_->ArmSemaphore(id, sem)) throw ErrnoError(env, err, "pthread_create");
  Pending pending;
  pending.owner = sem.get();
  pending.backend = thread_.get();
  pending.sem = std::move(sem);
  return Start(env, id, std::move(pending), timeout_ms);
}

// Records an armed wait and returns [Promise, id].
Napi::Value WaitEngine::Start(Napi::Env env, uint64_t id, Pending pending, double timeout_ms) {
  napi_value promise;
  napi_status status = napi_create_promise(env, &pending.deferred, &promise);
  if (status != napi_ok) {  // nothing will settle it: take the armed wait back
    pending.backend->Disarm(id);
    if (pending.keep_alive) (void)napi_delete_reference(env, pending.keep_alive);
    throw StatusError(env, status, "napi_create_promise");
  }
  int64_t deadline = DeadlineFor(timeout_ms);
  if (deadline >= 0) {
    pending.deadline = deadlines_.emplace(deadline, id);
    pending.has_deadline = true;
  }
  if (pending.owner) by_owner_[pending.owner].insert(id);
  if (pending_.empty()) uv_ref(reinterpret_cast<uv_handle_t*>(&thread_report_));
  pending_.emplace(id, std::move(pending));
  RearmTimer();
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Value(env, promise));
  result.Set(1u, Napi::Number::New(env, static_cast<double>(id)));
  return result;
}

void WaitEngine::Cancel(uint64_t id) {
  if (pending_.count(id)) Settle(id, WaitEnd::kCancelled, 0, true);
}

void WaitEngine::EndWaitsOf(const void* owner) {
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return;
  std::unordered_set<uint64_t> ids = std::move(it->second);
  by_owner_.erase(it);
  for (uint64_t id : ids) Settle(id, WaitEnd::kClosed, 0, true);
}

// Ends a wait: resolves (or rejects, on `error`) its Promise and forgets it.
// `disarm`: the backend still has it (a timeout, cancel or close).
void WaitEngine::Settle(uint64_t id, WaitEnd end, int error, bool disarm) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  if (disarm) pending.backend->Disarm(id);
  if (pending.has_deadline) deadlines_.erase(pending.deadline);
  if (pending.owner) {
    auto owned = by_owner_.find(pending.owner);
    if (owned != by_owner_.end() && owned->second.erase(id) && owned->second.empty()) by_owner_.erase(owned);
  }
  // Settled from a uv callback too, where a failure has no one to go to; it
  // fails only with the environment going away, which drops the Promise.
  if (pending.keep_alive) (void)napi_delete_reference(env_, pending.keep_alive);
  if (pending_.empty()) uv_unref(reinterpret_cast<uv_handle_t*>(&thread_report_));
  if (error != 0) {
    Napi::Error err = ErrnoError(Napi::Env(env_), error, pending.sem ? kSemWaitSyscall : kWaitSyscall);
    (void)napi_reject_deferred(env_, pending.deferred, err.Value());
  } else {
    napi_value result;
    if (napi_create_string_utf8(env_, EndName(end), NAPI_AUTO_LENGTH, &result) == napi_ok)
      (void)napi_resolve_deferred(env_, pending.deferred, result);
  }
  RearmTimer();
}

// Completions from a backend. One for a wait that already ended (timed out,
// cancelled, closed) is dropped, but a semaphore unit it took goes back.
void WaitEngine::Deliver(std::vector<Completion>& batch) {
  for (Completion& c : batch) {
    if (!pending_.count(c.id)) {
      if (c.unit) c.unit->Give();
      continue;
    }
    if (c.end == WaitEnd::kCancelled) continue;  // only our own cancels end this way
    Settle(c.id, c.end, c.error, false);
  }
}

void WaitEngine::RearmTimer() {
  if (deadlines_.empty()) {
    if (timer_due_ >= 0) uv_timer_stop(&timer_);
    timer_due_ = -1;
    return;
  }
  int64_t due = deadlines_.begin()->first;
  if (due == timer_due_) return;
  timer_due_ = due;
  int64_t ms = (due - MonotonicNowNs() + 999999) / 1000000;
  uv_update_time(loop_);
  uv_timer_start(&timer_, OnTimer, ms > 0 ? static_cast<uint64_t>(ms) : 0, 0);
}

void WaitEngine::OnTimer(uv_timer_t* handle) {
  auto* self = static_cast<WaitEngine*>(handle->data);
  self->timer_due_ = -1;
  LoopCallbackScope scope(self->env_, self->resource_, self->context_);
  if (!scope.ok()) return;
  int64_t now = MonotonicNowNs();
  while (!self->deadlines_.empty() && self->deadlines_.begin()->first <= now) {
    self->Settle(self->deadlines_.begin()->second, WaitEnd::kTimedOut, 0, true);
  }
  self->RearmTimer();
}

// Settles what `backend` has completed. From a loop callback (`from_loop`),
// inside a scope whose close runs the awaiting code; else inside a JS call,
// after which it runs anyway.
void WaitEngine::DeliverFrom(WaitBackend* backend, bool from_loop) {
  std::vector<Completion> batch;
  backend->Drain(&batch);
  if (batch.empty()) return;
  if (!from_loop) {
    Deliver(batch);
    return;
  }
  LoopCallbackScope scope(env_, resource_, context_);
  if (!scope.ok()) {  // no JS can run: only give back the semaphore units taken
    for (Completion& c : batch)
      if (c.unit) c.unit->Give();
    return;
  }
  Deliver(batch);
}

// Each backend's report reaches the loop its own way: a polled descriptor
// (io_uring, the doorbell) or a uv_async (the waiter thread).
void WaitEngine::OnUringReadable(uv_poll_t* handle, int, int) {
  auto* self = static_cast<WaitEngine*>(handle->data);
  self->DeliverFrom(self->uring_.get(), true);
}

void WaitEngine::OnDoorbell(uv_poll_t* handle, int, int) {
  auto* self = static_cast<WaitEngine*>(handle->data);
  self->DeliverFrom(self->bell_.get(), true);
}

void WaitEngine::OnThreadReport(uv_async_t* handle) {
  auto* self = static_cast<WaitEngine*>(handle->data);
  self->DeliverFrom(self->thread_.get(), true);
}

// Environment teardown: stop the thread (it never calls into this
// environment again), close the uv handles, then free the engine. Pending
// Promises are dropped with the environment.
void WaitEngine::Teardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* self = static_cast<WaitEngine*>(arg);
  self->thread_.reset();
  auto closed = [](uv_handle_t* handle) {
    auto* engine = static_cast<WaitEngine*>(handle->data);
    if (--engine->handles_open_ > 0) return;
    (void)napi_remove_async_cleanup_hook(engine->cleanup_);  // teardown: nothing to report to
    delete engine;
  };
  if (self->uring_state_ == Lazy::kReady) uv_close(reinterpret_cast<uv_handle_t*>(&self->uring_poll_), closed);
  if (self->bell_state_ == Lazy::kReady) uv_close(reinterpret_cast<uv_handle_t*>(&self->bell_poll_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->thread_report_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->timer_), closed);
}

}  // namespace shmkit

#include "sem.h"

#include <fcntl.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <memory>
#include <string>

#include "env_state.h"
#include "errors.h"
#include "waiter.h"

namespace shmkit {

namespace {

// One sem_open'd semaphore. sem_close runs when the last user lets go: JS
// (close, or environment teardown) and any waiter thread still blocked on it.
class Semaphore : public TeardownResource {
 public:
  explicit Semaphore(sem_t* sem) : sem_(sem) {}
  ~Semaphore() override { sem_close(sem_); }
  void Release() override { closed_ = true; }
  sem_t* sem() const { return sem_; }
  bool closed() const { return closed_; }

 private:
  sem_t* sem_;
  bool closed_ = false;
};

std::shared_ptr<Semaphore> SemById(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto sem = std::static_pointer_cast<Semaphore>(EnvState::Get(info.Env())->Find(id));
  if (!sem || sem->closed()) throw CodeError(info.Env(), "ERR_SHM_CLOSED", "the semaphore is closed");
  return sem;
}

int64_t TimeoutNs(const Napi::Value& value) {
  double ms = value.As<Napi::Number>().DoubleValue();
  return std::isinf(ms) || ms > 9e15 ? -1 : static_cast<int64_t>(ms * 1e6);
}

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Waits with EINTR retried on the time left; `slice_ns` > 0 also splits the
// wait so `cancelled` is seen (sem_post cannot target one waiter).
WaitOutcome SemWaitLoop(sem_t* sem, int64_t timeout_ns, int64_t slice_ns,
                        const std::atomic<bool>* cancelled) {
  int64_t deadline = timeout_ns < 0 ? -1 : NowNs() + timeout_ns;
  for (;;) {
    if (cancelled && *cancelled) return {"cancelled"};
    int64_t left = deadline < 0 ? -1 : std::max<int64_t>(deadline - NowNs(), 0);
    int64_t wait = slice_ns > 0 && (left < 0 || left > slice_ns) ? slice_ns : left;
    int err = SemTimedWait(sem, wait);
    if (err == 0 && cancelled && *cancelled) {
      sem_post(sem);  // taken after the caller gave up: give it back
      return {"cancelled"};
    }
    if (err == 0) return {"ok"};
    if (err == EINTR) continue;
    if (err != ETIMEDOUT) return {"", err, kSemWaitSyscall};
    if (deadline >= 0 && NowNs() >= deadline) return {"timed-out"};
  }
}

// semOpen(name, create, exclusive, mode, value) -> id
Napi::Value SemOpen(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  bool create = info[1].As<Napi::Boolean>();
  bool exclusive = info[2].As<Napi::Boolean>();
  mode_t mode = info[3].As<Napi::Number>().Uint32Value();
  unsigned value = info[4].As<Napi::Number>().Uint32Value();
  int flags = (create ? O_CREAT : 0) | (exclusive ? O_EXCL : 0);
  sem_t* sem = create ? sem_open(name.c_str(), flags, mode, value) : sem_open(name.c_str(), 0);
  if (sem == SEM_FAILED) throw ErrnoError(info.Env(), errno, "sem_open");
  uint32_t id = EnvState::Get(info.Env())->Add(std::make_shared<Semaphore>(sem));
  return Napi::Number::New(info.Env(), id);
}

// semClose(id)
Napi::Value SemClose(const Napi::CallbackInfo& info) {
  EnvState::Get(info.Env())->ReleaseAndRemove(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

// semWait(id, timeoutMs) -> 'ok' | 'timed-out'   (blocks this thread)
Napi::Value SemWait(const Napi::CallbackInfo& info) {
  auto sem = SemById(info);
  WaitOutcome out = SemWaitLoop(sem->sem(), TimeoutNs(info[1]), 0, nullptr);
  if (out.error != 0) throw ErrnoError(info.Env(), out.error, out.syscall);
  return Napi::String::New(info.Env(), out.result);
}

// semWaitAsync(id, timeoutMs) -> [Promise<'ok'|'timed-out'|'cancelled'>, waitId]
Napi::Value SemWaitAsync(const Napi::CallbackInfo& info) {
  std::shared_ptr<Semaphore> sem = SemById(info);
  int64_t timeout = TimeoutNs(info[1]);
  return StartAsyncWait(
      info.Env(),
      [sem, timeout](const std::atomic<bool>& cancelled) {
        return SemWaitLoop(sem->sem(), timeout, 50 * 1000000LL, &cancelled);
      },
      nullptr);
}

// semTryWait(id) -> boolean
Napi::Value SemTryWait(const Napi::CallbackInfo& info) {
  auto sem = SemById(info);
  while (sem_trywait(sem->sem()) != 0) {
    if (errno == EAGAIN) return Napi::Boolean::New(info.Env(), false);
    if (errno != EINTR) throw ErrnoError(info.Env(), errno, "sem_trywait");
  }
  return Napi::Boolean::New(info.Env(), true);
}

// semPost(id)
Napi::Value SemPost(const Napi::CallbackInfo& info) {
  auto sem = SemById(info);
  if (sem_post(sem->sem()) != 0) throw ErrnoError(info.Env(), errno, "sem_post");
  return info.Env().Undefined();
}

// semGetValue(id) -> number
Napi::Value SemGetValue(const Napi::CallbackInfo& info) {
  auto sem = SemById(info);
  int value = 0;
  if (sem_getvalue(sem->sem(), &value) != 0) throw ErrnoError(info.Env(), errno, "sem_getvalue");
  return Napi::Number::New(info.Env(), value);
}

// semUnlink(name)
Napi::Value SemUnlink(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  if (sem_unlink(name.c_str()) != 0) throw ErrnoError(info.Env(), errno, "sem_unlink");
  return info.Env().Undefined();
}

}  // namespace

void InitSem(Napi::Env env, Napi::Object exports) {
  exports.Set("semOpen", Napi::Function::New(env, SemOpen, "semOpen"));
  exports.Set("semClose", Napi::Function::New(env, SemClose, "semClose"));
  exports.Set("semWait", Napi::Function::New(env, SemWait, "semWait"));
  exports.Set("semWaitAsync", Napi::Function::New(env, SemWaitAsync, "semWaitAsync"));
  exports.Set("semTryWait", Napi::Function::New(env, SemTryWait, "semTryWait"));
  exports.Set("semPost", Napi::Function::New(env, SemPost, "semPost"));
  exports.Set("semGetValue", Napi::Function::New(env, SemGetValue, "semGetValue"));
  exports.Set("semUnlink", Napi::Function::New(env, SemUnlink, "semUnlink"));
}

}  // namespace shmkit

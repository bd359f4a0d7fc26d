#include "sys/sem.h"

#include <fcntl.h>

#include <cerrno>
#include <cmath>
#include <memory>
#include <string>

#include "core/errors.h"
#include "sys/futex.h"

namespace shmkit {

bool SemHandle::TryTake() {
  while (sem_trywait(sem_) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

int SemHandle::Give() { return sem_post(sem_) == 0 ? 0 : errno; }

std::shared_ptr<SemHandle> SemById(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto sem = std::static_pointer_cast<SemHandle>(EnvState::Get(info.Env())->Find(id));
  if (!sem || sem->closed()) throw CodeError(info.Env(), "ERR_SHM_CLOSED", "the semaphore is closed");
  return sem;
}

namespace {

// timeoutMs -> ns; -1 for none (Infinity).
int64_t TimeoutNs(const Napi::Value& value) {
  double ms = value.As<Napi::Number>().DoubleValue();
  return std::isinf(ms) || ms > 9e15 ? -1 : static_cast<int64_t>(ms * 1e6);
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
  uint32_t id = EnvState::Get(info.Env())->Add(std::make_shared<SemHandle>(sem));
  return Napi::Number::New(info.Env(), id);
}

// semClose(id): ends the handle's pending waits ('closed'), then lets go.
Napi::Value SemClose(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  EnvState* state = EnvState::Get(info.Env());
  if (auto sem = std::static_pointer_cast<SemHandle>(state->Find(id))) state->EndWaitsOf(sem.get());
  state->ReleaseAndRemove(id);
  return info.Env().Undefined();
}

// semWait(id, timeoutMs) -> 'ok' | 'timed-out'. Blocks this thread for at
// most timeoutMs (lib/ slices long waits); EINTR is retried on the time left.
Napi::Value SemWait(const Napi::CallbackInfo& info) {
  auto sem = SemById(info);
  int64_t timeout = TimeoutNs(info[1]);
  int64_t deadline = timeout < 0 ? -1 : MonotonicNowNs() + timeout;
  for (;;) {
    int64_t left = deadline < 0 ? -1 : std::max<int64_t>(deadline - MonotonicNowNs(), 0);
    int err = sem->TakeWithin(left);
    if (err == 0) return Napi::String::New(info.Env(), "ok");
    if (err == ETIMEDOUT) return Napi::String::New(info.Env(), "timed-out");
    if (err != EINTR) throw ErrnoError(info.Env(), err, kSemWaitSyscall);
  }
}

// semTryWait(id) -> boolean
Napi::Value SemTryWait(const Napi::CallbackInfo& info) {
  auto sem = SemById(info);
  if (sem->TryTake()) return Napi::Boolean::New(info.Env(), true);
  if (errno != EAGAIN) throw ErrnoError(info.Env(), errno, "sem_trywait");
  return Napi::Boolean::New(info.Env(), false);
}

// semPost(id, n): n units in one call, or none. Where the value can be read
// (Linux), a release that would pass SEM_VALUE_MAX fails before it posts
// anything: POSIX posts one unit at a time, and posting up to the maximum
// only to take it all back made the units visible to other processes and
// cost seconds. The check and the posts are not one atomic step, so a
// release that races another past the maximum (or runs where the value
// cannot be read) still meets EOVERFLOW part way: the units it posted are
// then taken back before the error is thrown (a waiter in another process
// may have taken some first: those stay released, as they would with n
// separate posts).
Napi::Value SemPost(const Napi::CallbackInfo& info) {
  auto sem = SemById(info);
  double n = info[1].As<Napi::Number>().DoubleValue();
  int64_t room = SemRoom(sem->sem());
  if (room >= 0 && n > static_cast<double>(room)) throw ErrnoError(info.Env(), EOVERFLOW, "sem_post");
  for (double i = 0; i < n; i++) {
    if (int err = sem->Give()) {
      while (i > 0 && sem->TryTake()) i--;
      throw ErrnoError(info.Env(), err, "sem_post");
    }
  }
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
  exports.Set("semTryWait", Napi::Function::New(env, SemTryWait, "semTryWait"));
  exports.Set("semPost", Napi::Function::New(env, SemPost, "semPost"));
  exports.Set("semGetValue", Napi::Function::New(env, SemGetValue, "semGetValue"));
  exports.Set("semUnlink", Napi::Function::New(env, SemUnlink, "semUnlink"));
}

}  // namespace shmkit

#include "sys/liveness.h"

#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>
#include <vector>

#include "core/env_state.h"
#include "core/errors.h"

namespace shmkit {

namespace {

// One handle's liveness token. Released by close() from JS, or at the latest
// when its environment is torn down (a terminated worker's locks then read
// as dead instead of staying held for the life of the process).
class LivenessToken : public TeardownResource {
 public:
  explicit LivenessToken(int held) : held_(held) {}
  ~LivenessToken() override { Release(); }
  void Release() override {
    if (held_ >= 0) LivenessRelease(held_);
    held_ = -1;
  }
  int held() const { return held_; }

 private:
  int held_;
};

// The token `id` of this environment, or nullptr once released.
std::shared_ptr<LivenessToken> TokenById(Napi::Env env, uint32_t id) {
  auto token = std::static_pointer_cast<LivenessToken>(EnvState::Get(env)->Find(id));
  return token && token->held() >= 0 ? token : nullptr;
}

// The segment name, for platforms that key liveness by name (macOS).
void UseName(const std::string& name) {
#ifdef __APPLE__
  LivenessSetName(name);
#else
  (void)name;
#endif
}

// livenessAcquire(fd, token, name) -> id
Napi::Value Acquire(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t token = info[1].As<Napi::Number>().Uint32Value();
  UseName(info[2].As<Napi::String>());
  int held = -1;
  int err = LivenessAcquire(fd, token, &held);
  if (err != 0) throw ErrnoError(info.Env(), err, "fcntl(F_OFD_SETLK)");
  uint32_t id = EnvState::Get(info.Env())->Add(std::make_shared<LivenessToken>(held));
  return Napi::Number::New(info.Env(), id);
}

// livenessAlive(id, token, name) -> boolean
Napi::Value Alive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  int alive = LivenessAliveById(env, id, info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::String>());
  if (alive == -EBADF) throw CodeError(env, "ERR_SHM_CLOSED", "this handle's liveness token is closed");
  if (alive < 0) throw ErrnoError(env, -alive, "fcntl(F_OFD_GETLK)");
  return Napi::Boolean::New(env, alive == 1);
}

// livenessExclude(fd, except?) -> true if the lock over every token's byte
// (but those of the tokens in the array `except`) is taken (held until `fd`
// is closed), false if some other handle holds its token.
Napi::Value Exclude(const Napi::CallbackInfo& info) {
  std::vector<uint32_t> except;
  if (info.Length() > 1 && info[1].IsArray()) {
    Napi::Array tokens = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < tokens.Length(); i++) except.push_back(tokens.Get(i).As<Napi::Number>().Uint32Value());
  }
  int err = LivenessExcludeAll(info[0].As<Napi::Number>().Int32Value(), std::move(except));
  if (err != 0 && err != EAGAIN) throw ErrnoError(info.Env(), err, "fcntl(F_OFD_SETLK)");
  return Napi::Boolean::New(info.Env(), err == 0);
}

// livenessRelease(id)
Napi::Value Release(const Napi::CallbackInfo& info) {
  EnvState::Get(info.Env())->ReleaseAndRemove(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

}  // namespace

int LivenessAliveById(Napi::Env env, uint32_t id, uint32_t token, const std::string& name) {
  auto own = TokenById(env, id);
  if (!own) return -EBADF;
  UseName(name);
  return LivenessAlive(own->held(), token);
}

void InitLiveness(Napi::Env env, Napi::Object exports) {
  exports.Set("livenessAcquire", Napi::Function::New(env, Acquire, "livenessAcquire"));
  exports.Set("livenessAlive", Napi::Function::New(env, Alive, "livenessAlive"));
  exports.Set("livenessExclude", Napi::Function::New(env, Exclude, "livenessExclude"));
  exports.Set("livenessRelease", Napi::Function::New(env, Release, "livenessRelease"));
}

}  // namespace shmkit

#include "liveness.h"

#include <unistd.h>

#include <cerrno>
#include <memory>

#include "env_state.h"
#include "errors.h"

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

std::shared_ptr<LivenessToken> TokenById(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto resource = EnvState::Get(info.Env())->Find(id);
  auto token = std::static_pointer_cast<LivenessToken>(resource);
  if (!token || token->held() < 0) {
    throw CodeError(info.Env(), "ERR_SHM_CLOSED", "this handle's liveness token is closed");
  }
  return token;
}

// The segment name, for platforms that key liveness by name (macOS).
void UseName(const Napi::CallbackInfo& info, size_t index) {
#ifdef __APPLE__
  LivenessSetName(info[index].As<Napi::String>());
#else
  (void)info;
  (void)index;
#endif
}

// livenessAcquire(fd, token, name) -> id
Napi::Value Acquire(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t token = info[1].As<Napi::Number>().Uint32Value();
  UseName(info, 2);
  int held = -1;
  int err = LivenessAcquire(fd, token, &held);
  if (err != 0) throw ErrnoError(info.Env(), err, "fcntl(F_OFD_SETLK)");
  uint32_t id = EnvState::Get(info.Env())->Add(std::make_shared<LivenessToken>(held));
  return Napi::Number::New(info.Env(), id);
}

// livenessAlive(id, token, name) -> boolean
Napi::Value Alive(const Napi::CallbackInfo& info) {
  auto own = TokenById(info);
  uint32_t token = info[1].As<Napi::Number>().Uint32Value();
  UseName(info, 2);
  int alive = LivenessAlive(own->held(), token);
  if (alive < 0) throw ErrnoError(info.Env(), -alive, "fcntl(F_OFD_GETLK)");
  return Napi::Boolean::New(info.Env(), alive == 1);
}

// livenessRelease(id)
Napi::Value Release(const Napi::CallbackInfo& info) {
  EnvState::Get(info.Env())->ReleaseAndRemove(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

}  // namespace

void InitLiveness(Napi::Env env, Napi::Object exports) {
  exports.Set("livenessAcquire", Napi::Function::New(env, Acquire, "livenessAcquire"));
  exports.Set("livenessAlive", Napi::Function::New(env, Alive, "livenessAlive"));
  exports.Set("livenessRelease", Napi::Function::New(env, Release, "livenessRelease"));
}

}  // namespace shmkit

#include "waiter.h"

#include <memory>
#include <mutex>
#include <thread>

#include "env_state.h"
#include "errors.h"

namespace shmkit {

namespace {

class AsyncWait : public TeardownResource,
                  public std::enable_shared_from_this<AsyncWait> {
 public:
  AsyncWait(BlockingOp op, std::function<void()> wake)
      : op_(std::move(op)), wake_(std::move(wake)) {}

  // At environment teardown: the thread must not call into this env again.
  void Release() override {
    std::lock_guard<std::mutex> guard(mu_);
    dead_ = true;
    cancelled_ = true;
  }

  // From JS (the JS thread): stop early and stop holding the event loop open.
  void Cancel(napi_env env) {
    cancelled_ = true;
    std::lock_guard<std::mutex> guard(mu_);
    if (!released_) napi_unref_threadsafe_function(env, tsfn_);
    if (wake_) wake_();
  }

  void Run() {
    outcome_ = op_(cancelled_);
    std::lock_guard<std::mutex> guard(mu_);
    if (dead_) return;  // the environment is gone or going: touch nothing of it
    auto* self = new std::shared_ptr<AsyncWait>(shared_from_this());
    if (napi_call_threadsafe_function(tsfn_, self, napi_tsfn_nonblocking) != napi_ok) {
      delete self;
    }
    napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
    released_ = true;
  }

  // On the JS thread, through the thread-safe function. A direct
  // napi_call-free settle: resolving a deferred needs no JS function, so
  // nothing here can end in node-addon-api's fatal error while the env dies.
  static void Settle(napi_env env, napi_value, void*, void* data) {
    auto* holder = static_cast<std::shared_ptr<AsyncWait>*>(data);
    std::shared_ptr<AsyncWait> self = *holder;
    delete holder;
    {
      std::lock_guard<std::mutex> guard(self->mu_);
      if (env == nullptr || self->dead_) return;
    }
    EnvState::Get(env)->Remove(self->id_);
    const WaitOutcome& out = self->outcome_;
    if (out.error != 0) {
      Napi::Error error = ErrnoError(Napi::Env(env), out.error, out.syscall ? out.syscall : "wait");
      napi_reject_deferred(env, self->deferred_, error.Value());
    } else {
      napi_value result;
      napi_create_string_utf8(env, out.result.c_str(), out.result.size(), &result);
      napi_resolve_deferred(env, self->deferred_, result);
    }
  }

  uint32_t id_ = 0;
  napi_deferred deferred_ = nullptr;
  napi_threadsafe_function tsfn_ = nullptr;

 private:
  BlockingOp op_;
  std::function<void()> wake_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  bool dead_ = false;
  bool released_ = false;
  WaitOutcome outcome_;
};

// cancelWait(id)
Napi::Value CancelWait(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto resource = EnvState::Get(info.Env())->Find(id);
  if (resource) std::static_pointer_cast<AsyncWait>(resource)->Cancel(info.Env());
  return info.Env().Undefined();
}

}  // namespace

Napi::Value StartAsyncWait(Napi::Env env, BlockingOp op, std::function<void()> wake) {
  auto wait = std::make_shared<AsyncWait>(std::move(op), std::move(wake));
  napi_value promise;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &wait->deferred_, &promise), Napi::Value());
  napi_value name = Napi::String::New(env, "shmkit.wait");
  NAPI_THROW_IF_FAILED(env,
                       napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr,
                                                       nullptr, AsyncWait::Settle, &wait->tsfn_),
                       Napi::Value());
  wait->id_ = EnvState::Get(env)->Add(wait);
  std::thread([wait] { wait->Run(); }).detach();
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Value(env, promise));
  result.Set(1u, Napi::Number::New(env, wait->id_));
  return result;
}

void InitWaiter(Napi::Env env, Napi::Object exports) {
  exports.Set("cancelWait", Napi::Function::New(env, CancelWait, "cancelWait"));
}

}  // namespace shmkit

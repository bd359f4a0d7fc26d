// Per-environment (main thread or worker) state: what must be let go when
// that environment is torn down, whatever the JS code did. One cleanup hook
// per environment (registered at load) closes liveness descriptors, so a
// terminated worker's tokens read as dead, and semaphores. Pending async
// waits belong to the wait engine, which tears itself down (wait_engine.h).
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace shmkit {

class WaitEngine;

// Something that must be released at environment teardown at the latest.
// Released on the JS thread; Release() must be idempotent.
class TeardownResource {
 public:
  virtual ~TeardownResource() = default;
  virtual void Release() = 0;
};

class EnvState {
 public:
  static EnvState* Get(napi_env env);
  static void Install(Napi::Env env);

  // Registers a resource; returns its id. Only called on the JS thread.
  uint32_t Add(std::shared_ptr<TeardownResource> resource);
  std::shared_ptr<TeardownResource> Find(uint32_t id);
  void Remove(uint32_t id);
  // Release() and Remove() in one: what closing a handle from JS does.
  void ReleaseAndRemove(uint32_t id);

  // What builds the errors the addon throws (errors.h), once lib/ set it.
  napi_ref error_factory() const { return error_factory_; }
  void set_error_factory(napi_env env, napi_ref factory);

  // Ends every pending wait on `owner` (a mapping or a semaphore about to be
  // unmapped or closed): the wait engine says how at install, so the layers
  // below it need not know it.
  void EndWaitsOf(const void* owner) {
    if (end_waits_of_) end_waits_of_(owner);
  }
  void set_end_waits_of(std::function<void(const void*)> end) { end_waits_of_ = std::move(end); }

  // The environment's wait engine (it frees itself at teardown).
  WaitEngine* wait_engine() const { return wait_engine_; }
  void set_wait_engine(WaitEngine* engine) { wait_engine_ = engine; }

  // Buffer.prototype and Uint8Array.prototype, which tell a Buffer message
  // from a Uint8Array one (native/channel/ring.cc); taken on first use.
  napi_ref buffer_prototype = nullptr;
  napi_ref uint8_prototype = nullptr;

 private:
  static void Teardown(void* arg);

  uint32_t next_id_ = 1;
  WaitEngine* wait_engine_ = nullptr;
  napi_ref error_factory_ = nullptr;
  std::function<void(const void*)> end_waits_of_;
  std::unordered_map<uint32_t, std::shared_ptr<TeardownResource>> resources_;
};

}  // namespace shmkit

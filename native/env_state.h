// Per-environment (main thread or worker) state: what must be let go when
// that environment is torn down, whatever the JS code did. One cleanup hook
// per environment (registered at load) marks pending async waits dead, so
// their threads never call into a dying environment (nodejs/node#55706), and
// closes liveness descriptors, so a terminated worker's tokens read as dead.
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace shmkit {

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

 private:
  static void Teardown(void* arg);

  uint32_t next_id_ = 1;
  std::unordered_map<uint32_t, std::shared_ptr<TeardownResource>> resources_;
};

}  // namespace shmkit

// Entry point. Context-aware (node-addon-api's NODE_API_MODULE), so the addon
// loads in worker_threads; each concern registers its own functions.
#include <napi.h>

#include "shm.h"
#include "wait.h"

namespace shmkit {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitShm(env, exports);
  InitWait(env, exports);
  return exports;
}

}  // namespace shmkit

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return shmkit::Init(env, exports);
}

NODE_API_MODULE(shmkit, InitAddon)

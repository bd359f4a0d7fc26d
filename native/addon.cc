// Entry point. Context-aware (node-addon-api's NODE_API_MODULE), so the addon
// loads in worker_threads; each concern registers its own functions.
#include <napi.h>

#include "env_state.h"
#include "errors.h"
#include "exit_signals.h"
#include "layout_values.h"
#include "liveness.h"
#include "parent_death.h"
#include "pipe_end.h"
#include "queue.h"
#include "ring.h"
#include "sem.h"
#include "shm.h"
#include "spinner.h"
#include "wait.h"
#include "wait_engine.h"

namespace shmkit {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvState::Install(env);
  WaitEngine::Install(env);
  InitErrors(env, exports);
  InitLayoutValues(env, exports);
  InitShm(env, exports);
  InitWait(env, exports);
  InitRing(env, exports);
  InitPipeEnd(env, exports);
  InitQueue(env, exports);
  InitSpinner(env, exports);
  InitLiveness(env, exports);
  InitSem(env, exports);
  InitParentDeath(env, exports);
  InitExitSignals(env, exports);
  return exports;
}

}  // namespace shmkit

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return shmkit::Init(env, exports); }

NODE_API_MODULE(shmkit, InitAddon)

// Entry point. Context-aware (node-addon-api's NODE_API_MODULE), so the addon
// loads in worker_threads; each concern registers its own functions.
#include <napi.h>

#include "channel/pipe_end.h"
#include "channel/queue.h"
#include "channel/ring.h"
#include "core/env_state.h"
#include "core/errors.h"
#include "core/layout_values.h"
#include "sys/exit_signals.h"
#include "sys/liveness.h"
#include "sys/parent_death.h"
#include "sys/sem.h"
#include "sys/shm.h"
#include "wait/spinner.h"
#include "wait/wait.h"
#include "wait/wait_engine.h"

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

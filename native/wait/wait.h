// JS bindings for waits on shared-memory words (wait.cc), and the wake and
// spin of notify.h.
#pragma once
#include <napi.h>

#include <cstdint>

#include "wait/notify.h"

namespace shmkit {

void InitWait(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

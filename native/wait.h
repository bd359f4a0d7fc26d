// JS bindings for waits on shared-memory words (wait.cc).
#pragma once
#include <napi.h>

namespace shmkit {

void InitWait(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

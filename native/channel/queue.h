// A Queue handle's per-message calls (lib/channel/queue.ts): a string put
// and a get's first try, each one N-API call with the put or get lock
// taken and given back inside it, as a Pipe end's are one call
// (native/channel/pipe_end.h). Each JS function on a per-message path is one more
// optimizing-compiler job, and on a 2-CPU machine a job that runs while a
// request/reply pair spins stalls it (docs/design.md, "Async sends and
// receives in one call").
#pragma once
#include <napi.h>

namespace shmkit {

void InitQueue(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

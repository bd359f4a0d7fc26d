// A Pipe end's per-message calls (lib/channel/pipe.ts): sending a string,
// polling for a message and a blocking receive's first try, each one N-API
// call. Send and poll include the check of the peer they need (its closed
// flag, and its liveness asked of the kernel at most every 5 ms): in lib/
// that check's rarely taken branch was code the optimizing compiler had
// never seen run when it compiled the hot path, so every process
// deoptimized its send and poll once it first ran (docs/design.md, "Rings
// in the addon").
#pragma once
#include <napi.h>

namespace shmkit {

void InitPipeEnd(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

// A Pipe end's per-message calls (lib/channel/pipe.ts): sending a string and
// polling for a message, each one N-API call that includes the check of the
// peer they both need (its closed flag, and its liveness asked of the kernel
// at most every 5 ms). In lib/ that check's rarely taken branch was code the
// optimizing compiler had never seen run when it compiled the hot path, so
// every process deoptimized its send and poll once it first ran
// (docs/design.md, "Rings in the addon").
#pragma once
#include <napi.h>

namespace shmkit {

void InitPipeEnd(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

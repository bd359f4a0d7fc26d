// A channel's ring (Queue, Pipe): the frame protocol of docs/format.md in
// C++, one N-API call per message. lib/channel/ring.ts keeps what is not per
// message (validation, wait plans, views, decoding of non-string messages)
// and calls these for every frame it writes or reads, so the per-message
// path runs no JavaScript that the optimizing compiler must first compile
// (docs/design.md, "Rings in the addon").
#pragma once
#include <napi.h>

namespace shmkit {

void InitRing(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

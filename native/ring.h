// A channel's ring (Queue, Pipe): the frame protocol of docs/format.md in
// C++, one N-API call per message. lib/channel/ring.ts keeps what is not per
// message (validation, wait plans, views, decoding of non-string messages)
// and calls these for every frame it writes or reads, so the per-message
// path runs no JavaScript that the optimizing compiler must first compile
// (docs/design.md, "Rings in the addon").
#pragma once
#include <napi.h>

namespace shmkit {

// One ring as ringOpen made it for lib/.
struct RingHandle;

// The handle behind a value that ringOpen returned (lib/ passes no other).
RingHandle* RingHandleOf(const Napi::Value& value);

// For a Pipe end's per-message calls (native/pipe_end.cc). A closed
// segment reads as empty and writes nothing, and a string that finds no
// room, or could never fit, is not written: the caller's general path finds
// out which, and says so. Only RingReadNow throws, as ringRead does (a
// corrupt ring, reported once).
bool RingHasData(const RingHandle* handle);
bool RingWriteStringNow(napi_env env, RingHandle* handle, napi_value text);
// ringRead of `handle`, spinning up to `spin_ms` for a message; `spun_ms` gets how long the spin took.
Napi::Value RingReadNow(Napi::Env env, RingHandle* handle, double spin_ms, double* spun_ms);

void InitRing(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

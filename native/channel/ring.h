// A channel's ring (Queue, Pipe) for JS: the frame protocol of
// docs/format.md (frame_ring.h) bound to N-API, one call per message.
// lib/channel/ring.ts keeps what is not per message (validation, wait
// plans, views, decoding of non-string messages) and calls these for every
// frame it writes or reads, so the per-message path runs no JavaScript that
// the optimizing compiler must first compile (docs/design.md, "Rings in the
// addon"). A ring found corrupt is reset and reported as ERR_SHM_FORMAT.
#pragma once
#include <napi.h>

namespace shmkit {

// One ring as ringOpen made it for lib/.
struct RingHandle;

// The handle behind a value that ringOpen returned (lib/ passes no other).
RingHandle* RingHandleOf(const Napi::Value& value);

// For the per-message calls of a Pipe end (native/channel/pipe_end.cc) and a Queue
// handle (native/channel/queue.cc). A closed segment reads as empty and writes
// nothing, and a message that finds no room, or could never fit, is not
// written: the caller's general path finds out which, and says so. A ring
// found corrupt is reset and reported once, as ringRead and ringWriteString
// do: RingWriteNow and RingFirstRead throw ERR_SHM_FORMAT then.
bool RingHasData(const RingHandle* handle);
// A write's first try, called as fn(handle, message, tag): writes a
// string, Buffer or typed array as it is when `tag` is -1 (anything else is
// not written: lib/ encodes it), or, with a tag, a Uint8Array of bytes that
// lib/ encoded. True if written.
bool RingWriteNow(const Napi::CallbackInfo& info, RingHandle* handle);

// A receive's first try, called as fn(handle[, maxSpinMs[, doorbell]]):
// ringRead of `ring` with the spin that the read Spinner `spinner` allows,
// at most maxSpinMs (what is left of the receive's timeout). Without
// `doorbell` it is a blocking receive's, which records its wait on the
// spinner when a message came (the wait that goes on records the rest);
// with it, an async receive's (`doorbell`: its event loop has one), which
// follows the doorbell sites' rule and records every spin, caught or not
// (lib/sync/waiting.ts), since the wait that goes on does not spin.
Napi::Value RingFirstRead(const Napi::CallbackInfo& info, RingHandle* ring, int32_t* spinner);

// Records that no first read was made: a spin of -1 (lib/ reads the spin's length after).
void RingNoRead(RingHandle* handle);

// Control word `index` (lib/channel/ring.ts Ctl) of an open ring; nullptr once its segment is closed.
int32_t* RingControlWord(RingHandle* handle, int index);

// Whether a consumer holds a frame of this (open) ring as a view: a Queue's
// holder table is in use, and one holder may be a dead consumer's.
bool RingHoldsViews(const RingHandle* handle);

void InitRing(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

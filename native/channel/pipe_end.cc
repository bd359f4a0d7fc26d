#include "channel/pipe_end.h"

#include <cerrno>
#include <string>

#include "channel/ring.h"
#include "core/atomics.h"
#include "core/bindings.h"
#include "core/errors.h"
#include "core/handle.h"
#include "core/layout.h"
#include "sys/futex.h"
#include "sys/liveness.h"
#include "sys/shm.h"
#include "wait/spinner.h"

namespace shmkit {

namespace {

using namespace layout;  // the pipe's control words: each end's token, then each end's closed flag (layout.h)
// How often a peer seen alive is asked of the kernel again: a dead peer is
// noticed within this, and a reader spinning on pollSync() makes no system
// call on most polls.
constexpr int64_t kPeerCheckNs = 5'000'000;

// One end of a Pipe: its two rings, the control words, and what it knows
// of its peer. Its handle keeps the ring handles (and so the mapping) alive.
struct PipeEnd {
  static constexpr napi_type_tag kTypeTag = {0xd15e7a2c3f8b9046, 0x1b7c4e9a60f3d285};
  static constexpr const char* kHandleName = "Pipe end handle";
  Mapping* mapping;
  const int32_t* control;
  RingHandle* out;
  RingHandle* in;
  int32_t* read_spinner;  // the inbound ring's read Spinner counters (lib/), kept alive by the handle
  int peer;
  uint32_t liveness_id;  // this handle's liveness token, through which the peer's is asked
  std::string name;      // the segment's (macOS keys liveness by it)
  int64_t checked_at_ns;
  uint32_t dead_peer = 0;  // the peer's token once it was found dead: death is for good
};

enum class Peer { kThere, kGone, kUnknown };

// Whether the peer closed or died. A close is one load; liveness is asked
// of the kernel at most every kPeerCheckNs, or now if `fresh` (a send that
// slept: its sleep, not this pacing, bounds how often it asks). kUnknown
// (with the errno) if the kernel could not say: asked again at the next call.
Peer PeerState(Napi::Env env, PipeEnd& end, int* error, bool fresh = false) {
  if (Load(end.control + kEndClosed + end.peer) == 1) return Peer::kGone;
  uint32_t token = Load(end.control + kEndToken + end.peer);
  if (token != 0 && token == end.dead_peer) return Peer::kGone;
  int64_t now = MonotonicNowNs();
  if (!fresh && now - end.checked_at_ns < kPeerCheckNs) return Peer::kThere;
  if (token == 0) {  // the other end was never opened yet: not gone
    end.checked_at_ns = now;
    return Peer::kThere;
  }
  int alive = LivenessAliveById(env, end.liveness_id, token, end.name);
  if (alive < 0) {
    *error = -alive;
    return Peer::kUnknown;
  }
  end.checked_at_ns = now;
  if (alive == 1) return Peer::kThere;
  end.dead_peer = token;
  return Peer::kGone;
}

void ReleasePipeEnd(PipeEnd* end) {
  end->mapping->Unref();
  delete end;
}

PipeEnd& EndOf(const Napi::CallbackInfo& info) { return *Handle<PipeEnd>::From(info[0]); }

// pipeEndOpen(mappingHandle, controlOffset, outRing, inRing, readSpinnerState, end, livenessId, name) -> handle
Napi::Value PipeEndOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* mapping = MappingFromHandle(info[0]);
  size_t offset = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  if (mapping->unmapped) throw CodeError(env, "ERR_SHM_CLOSED", "the pipe is closed");
  if (offset % 8 != 0 || offset > mapping->length || mapping->length - offset < kPipeControlBytes) {
    throw CodeError(env, "ERR_SHM_FORMAT", "the pipe's control words do not fit its segment");
  }
  auto* end = new PipeEnd{mapping,
                          reinterpret_cast<const int32_t*>(static_cast<char*>(mapping->addr) + offset),
                          RingHandleOf(info[2]),
                          RingHandleOf(info[3]),
                          SpinnerState(info[4]),
                          1 - static_cast<int>(info[5].As<Napi::Number>().Int32Value() & 1),
                          info[6].As<Napi::Number>().Uint32Value(),
                          info[7].As<Napi::String>(),
                          MonotonicNowNs() - kPeerCheckNs};
  mapping->refs.fetch_add(1);  // ReleasePipeEnd gives it back
  return Handle<PipeEnd>::Wrap(env, end, {info[2], info[3], info[4]}, ReleasePipeEnd);
}

// pipePeerGone(end[, fresh]) -> true if the other end closed or its process
// died; `fresh`: ask the kernel now, whenever it was last asked.
Napi::Value PipePeerGone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PipeEnd& end = EndOf(info);
  if (end.mapping->unmapped) throw CodeError(env, "ERR_SHM_CLOSED", "the pipe is closed");
  int error = 0;
  Peer peer = PeerState(env, end, &error, info.Length() > 1 && info[1].ToBoolean());
  if (peer == Peer::kUnknown) throw ErrnoError(env, error, "fcntl(F_OFD_GETLK)");
  return Napi::Boolean::New(env, peer == Peer::kGone);
}

// pipeSend(end, message, tag) -> true if `message` is sent now: a string,
// Buffer or typed array as it is (tag -1), or a Uint8Array of bytes that
// lib/ encoded, with its tag. false sends nothing (this end closed, the peer gone, no
// room, or another kind of message): lib/'s general path then encodes it,
// says which, or waits. A corrupt ring is ERR_SHM_FORMAT (reset).
Napi::Value PipeSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PipeEnd& end = EndOf(info);
  int error = 0;
  bool sent = !end.mapping->unmapped && PeerState(env, end, &error) == Peer::kThere && RingWriteNow(info, end.out);
  return Napi::Boolean::New(env, sent);
}

// pipePoll(end) -> 1 if a receive would not wait (a message, or end of
// stream), 0 if it would, -1 if this end is closed or the kernel could not
// say whether the peer lives (lib/'s general path throws which).
Napi::Value PipePoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PipeEnd& end = EndOf(info);
  if (end.mapping->unmapped) return Napi::Number::New(env, -1);
  if (RingHasData(end.in)) return Napi::Number::New(env, 1);
  int error = 0;
  Peer peer = PeerState(env, end, &error);
  return Napi::Number::New(env, peer == Peer::kThere ? 0 : peer == Peer::kGone ? 1 : -1);
}

// pipeRecv(end, [maxSpinMs[, doorbell]]) -> a receive's first try:
// RingFirstRead of the inbound ring, a blocking receive's or an async one's;
// undefined also when this end is closed (lib/'s general path throws).
Napi::Value PipeRecv(const Napi::CallbackInfo& info) {
  PipeEnd& end = EndOf(info);
  return RingFirstRead(info, end.in, end.read_spinner);
}

}  // namespace

void InitPipeEnd(Napi::Env env, Napi::Object exports) {
  Bind(env, exports,
       {
           {"pipeEndOpen", PipeEndOpen},
           {"pipePeerGone", PipePeerGone},
           {"pipeSend", PipeSend},
           {"pipePoll", PipePoll},
           {"pipeRecv", PipeRecv},
       });
}

}  // namespace shmkit

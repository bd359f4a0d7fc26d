#include "channel/queue.h"

#include "channel/ring.h"
#include "core/atomics.h"
#include "core/bindings.h"
#include "core/errors.h"
#include "core/handle.h"
#include "core/layout.h"
#include "wait/spinner.h"
#include "wait/wait.h"

namespace shmkit {

namespace {

using namespace layout;  // the ring's put and get lock words, and a lock word's bits (layout.h)

// One Queue handle as the addon sees it: its ring, the ring's read Spinner
// counters (lib/), and the handle's token, which its locks are held with.
// Its handle keeps the ring handle and the spinner counters alive.
struct QueueHandle {
  static constexpr napi_type_tag kTypeTag = {0x6e0b3d8f2a7c1945, 0xf2a49c6e8b1d3075};
  static constexpr const char* kHandleName = "Queue handle";
  RingHandle* ring;
  int32_t* read_spinner;
  int32_t token;
};

// The uncontended half of lib/sync/lock-word.ts: a lock taken with one
// compare-and-swap from free to this handle's token, and given back with
// one from the token to free, or, when a waiter marked the word, freed and
// one sleeper woken. Anything else (the lock held, its holder maybe dead)
// is left to the general path in lib/, which waits, or takes it over.
class HeldLock {
 public:
  HeldLock(int32_t* word, int32_t token) : word_(word), token_(token) {
    held_ = word != nullptr && CompareExchange(word, 0, static_cast<uint32_t>(token));
  }
  HeldLock(const HeldLock&) = delete;
  HeldLock& operator=(const HeldLock&) = delete;
  ~HeldLock() {
    if (held_) Release();
  }

  bool held() const { return held_; }

  // Leaves the lock taken for lib/ to give back (a message it decodes).
  void Keep() { held_ = false; }

 private:
  // A failed wake is not reported: the sleeper looks again within its
  // slice (lib/sync/lock-word.ts WAIT_SLICE_MS), as after any lost wake.
  void Release() {
    if (CompareExchange(word_, static_cast<uint32_t>(token_), 0)) return;
    if (Exchange(word_, 0) & kLockWaiters) NotifyWord(word_, 1, 0);
  }

  int32_t* word_;
  int32_t token_;
  bool held_;
};

QueueHandle& QueueOf(const Napi::CallbackInfo& info) { return *Handle<QueueHandle>::From(info[0]); }

// queueOpen(ring, readSpinnerState, token) -> handle
Napi::Value QueueOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* queue = new QueueHandle{RingHandleOf(info[0]), SpinnerState(info[1]), info[2].As<Napi::Number>().Int32Value()};
  return Handle<QueueHandle>::Wrap(env, queue, {info[0], info[1]});
}

// queuePut(queue, message, tag) -> true if `message` is put now: a
// string, Buffer or typed array as it is (tag -1), or a Uint8Array of
// bytes that lib/ encoded, with its tag. false puts nothing (the handle closed, the put
// lock taken, no room, or another kind of message): lib/'s general path
// then encodes it, says which, or waits. A corrupt ring is ERR_SHM_FORMAT
// (reset; the lock goes back).
Napi::Value QueuePut(const Napi::CallbackInfo& info) {
  QueueHandle& queue = QueueOf(info);
  HeldLock lock(RingControlWord(queue.ring, kPutLock), queue.token);
  return Napi::Boolean::New(info.Env(), lock.held() && RingWriteNow(info, queue.ring));
}

// queueGet(queue, [maxSpinMs[, doorbell]]) -> a get's first try, the get
// lock taken and given back: RingFirstRead, a blocking get's or an async
// one's. A string message is the string; another kind is made here if it
// is a typed array, ArrayBuffer or DataView; any other is its length, left
// in the ring with the get lock still taken (its frame in out), for lib/ to
// decode and then give the lock back. undefined when nothing came within
// the spin, or no read was made (the handle closed, the get lock
// taken, or views held, which a dead consumer's may be among): lib/'s
// general path takes it from there.
Napi::Value QueueGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  QueueHandle& queue = QueueOf(info);
  HeldLock lock(RingHoldsViews(queue.ring) ? nullptr : RingControlWord(queue.ring, kGetLock), queue.token);
  if (!lock.held()) {
    RingNoRead(queue.ring);
    return env.Undefined();
  }
  Napi::Value read = RingFirstRead(info, queue.ring, queue.read_spinner);
  if (read.IsNumber()) lock.Keep();
  return read;
}

}  // namespace

void InitQueue(Napi::Env env, Napi::Object exports) {
  Bind(env, exports,
       {
           {"queueOpen", QueueOpen},
           {"queuePut", QueuePut},
           {"queueGet", QueueGet},
       });
}

}  // namespace shmkit

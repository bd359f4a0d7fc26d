#include "channel/ring.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <string>

#include "channel/frame_ring.h"
#include "core/atomics.h"
#include "core/bindings.h"
#include "core/env_state.h"
#include "core/errors.h"
#include "core/handle.h"
#include "core/layout.h"
#include "sys/futex.h"
#include "sys/shm.h"
#include "wait/notify.h"
#include "wait/spinner.h"

namespace shmkit {

// One ring as ringOpen made it: the frame protocol over the ring's words, a
// reference to its mapping's bookkeeping, and lib/'s out array (its handle
// keeps the array alive).
struct RingHandle {
  static constexpr napi_type_tag kTypeTag = {0x2f9d6b3a81c4e570, 0x95a0e7c3d41b6f28};
  static constexpr const char* kHandleName = "ring handle";
  Mapping* mapping;
  FrameRing ring;
  int32_t* out;         // what a call reports beside its result (layout.h kOut*)
  std::string scratch;  // a string whose NUL would not fit its frame is written here first
};

namespace {

using namespace layout;  // the ring's words, frame words, tags and out words (layout.h)

void ReleaseRing(RingHandle* handle) {
  handle->mapping->Unref();
  delete handle;
}

// The ring behind argument 0, or a throw if its segment was closed (lib/
// checks first; this is the last guard before touching unmapped memory).
RingHandle& RingOf(const Napi::CallbackInfo& info) {
  RingHandle& handle = *Handle<RingHandle>::From(info[0]);
  if (handle.mapping->unmapped) throw CodeError(info.Env(), "ERR_SHM_CLOSED", "the channel is closed");
  return handle;
}

// A ring found corrupt was reset: ERR_SHM_FORMAT says what was found and dropped.
[[noreturn]] void ThrowCorrupt(Napi::Env env, const FrameRing& ring) {
  throw CodeError(env, "ERR_SHM_FORMAT", ring.corruption().c_str());
}

// FrameRing::Reserve for JS: the frame's offset, or -1 if there is no room
// now (HEAD as the writer saw it is reported in out) or the frame could
// never fit (lib/ checks that first).
int64_t Reserve(Napi::Env env, RingHandle& handle, uint32_t payload) {
  uint32_t at = 0;
  RingStatus status = handle.ring.Reserve(payload, &at);
  if (status == RingStatus::kOk) return at;
  if (status == RingStatus::kCorrupt) ThrowCorrupt(env, handle.ring);
  if (status == RingStatus::kNoRoom) handle.out[kOutHeadWhenFull] = static_cast<int32_t>(handle.ring.head_when_full());
  return -1;
}

// FrameRing::Oldest for JS: true with the oldest frame in *frame, false if there is none.
bool Oldest(Napi::Env env, FrameRing& ring, Frame* frame) {
  RingStatus status = ring.Oldest(frame);
  if (status == RingStatus::kCorrupt) ThrowCorrupt(env, ring);
  return status == RingStatus::kOk;
}

uint32_t U32(const Napi::Value& value) { return value.As<Napi::Number>().Uint32Value(); }

// A payload length from lib/, which checked that it fits: checked again, so
// that no argument can make a frame run past the ring.
uint32_t PayloadLength(Napi::Env env, const FrameRing& ring, double length) {
  if (!(length >= 0) || length > ring.capacity() - kFrameHeader) {
    throw CodeError(env, "ERR_SHM_MESSAGE_TOO_LARGE", "the message can never fit this ring");
  }
  return static_cast<uint32_t>(length);
}

// ringOpen(mappingHandle, byteOffset, out: Int32Array(6)) -> handle. lib/
// validated the control words; the range is checked again here. `out` is
// written through a pointer kept for the ring's life (with a reference that
// keeps it alive), so lib/ makes it over an ArrayBuffer of its own, whose
// memory V8 does not move.
Napi::Value RingOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* mapping = MappingFromHandle(info[0]);
  size_t offset = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  Napi::Int32Array out = info[2].As<Napi::Int32Array>();
  if (mapping->unmapped) throw CodeError(env, "ERR_SHM_CLOSED", "the channel is closed");
  if (out.ElementLength() < static_cast<size_t>(kOutWords))
    throw CodeError(env, "ERR_SHM_INVALID_ARG", "the out array is too short");
  if (offset % 8 != 0 || offset > mapping->length || mapping->length - offset < kRingControlBytes) {
    throw CodeError(env, "ERR_SHM_FORMAT", "the ring does not fit its segment");
  }
  auto* words = reinterpret_cast<int32_t*>(static_cast<char*>(mapping->addr) + offset);
  uint32_t capacity = Load(words + kCapacity);
  if (!FrameRing::CapacityValid(capacity) || mapping->length - offset - kRingControlBytes < capacity) {
    throw CodeError(env, "ERR_SHM_FORMAT", "the ring's capacity does not fit its segment");
  }
  mapping->refs.fetch_add(1);  // ReleaseRing gives it back
  auto* handle = new RingHandle{mapping, FrameRing(words, capacity), out.Data(), {}};
  return Handle<RingHandle>::Wrap(env, handle, {out}, ReleaseRing);
}

// Writes a string of `byte_length` bytes (UTF-8, or latin1 = its ASCII
// characters) at `dest`. N-API always writes a NUL after what it copies, so
// a string is written in place only when its frame has a spare byte
// (the padding to 8 bytes), else through the ring's scratch buffer.
void WriteString(napi_env env, napi_value text, bool ascii, uint8_t* dest, uint32_t byte_length, std::string& scratch) {
  if (byte_length == 0) return;
  char* to = reinterpret_cast<char*>(dest);
  bool in_place = byte_length % 8 != 0;
  if (!in_place) {
    scratch.resize(byte_length + 1);
    to = &scratch[0];
  }
  size_t written = 0;
  if (ascii)
    napi_get_value_string_latin1(env, text, to, byte_length + 1, &written);
  else
    napi_get_value_string_utf8(env, text, to, byte_length + 1, &written);
  if (!in_place) std::memcpy(dest, to, byte_length);
}

// Writes the string `text` as a frame: 1 if written, 0 if there is no room
// now, -1 if it could never fit, -2 if `text` is not a string. Measured
// here, not in lib/: its UTF-8 length, and whether it is ASCII (as many
// UTF-8 bytes as UTF-16 units), which is written as latin1, faster than UTF-8.
int WriteStringFrame(napi_env env, RingHandle& handle, napi_value text) {
  size_t units = 0, bytes = 0;
  if (napi_get_value_string_utf16(env, text, nullptr, 0, &units) != napi_ok ||
      napi_get_value_string_utf8(env, text, nullptr, 0, &bytes) != napi_ok) {
    return -2;
  }
  FrameRing& ring = handle.ring;
  if (bytes > ring.MaxPayload()) return -1;
  auto byte_length = static_cast<uint32_t>(bytes);
  bool ascii = bytes == units;
  int64_t at = Reserve(env, handle, byte_length);
  if (at < 0) return 0;
  auto offset = static_cast<uint32_t>(at);
  WriteString(env, text, ascii, ring.PayloadAt(offset), byte_length, handle.scratch);
  ring.Publish(offset, byte_length, ascii ? kTagAscii : kTagString);
  return 1;
}

// global[global_class].prototype, or nullptr if it cannot be read.
napi_value PrototypeOf(napi_env env, const char* global_class) {
  napi_value global, klass, prototype;
  if (napi_get_global(env, &global) != napi_ok ||
      napi_get_named_property(env, global, global_class, &klass) != napi_ok ||
      napi_get_named_property(env, klass, "prototype", &prototype) != napi_ok) {
    return nullptr;
  }
  return prototype;
}

// Whether `prototype` is global[global_class].prototype, kept in `cached`
// (EnvState) on first use. False if it cannot be told: lib/ decides then.
bool HasPrototype(napi_env env, napi_value prototype, napi_ref* cached, const char* global_class) {
  if (*cached == nullptr) {
    napi_value expected = PrototypeOf(env, global_class);
    if (expected == nullptr || napi_create_reference(env, expected, 1, cached) != napi_ok) {
      *cached = nullptr;
      return false;
    }
  }
  napi_value expected;
  bool same = false;
  return napi_get_reference_value(env, *cached, &expected) == napi_ok &&
         napi_strict_equals(env, prototype, expected, &same) == napi_ok && same;
}

// The tag a Buffer or typed array is sent with (lib/channel/codec.ts
// encode: the same tags), its bytes in `data` and `length`; -1 for
// anything else, which lib/ encodes. A Uint8Array whose prototype is
// neither Buffer's nor Uint8Array's (a subclass) is left to lib/ too, where
// Buffer.isBuffer decides.
int BytesTag(napi_env env, napi_value value, void** data, size_t* length) {
  bool typed = false;
  if (napi_is_typedarray(env, value, &typed) != napi_ok || !typed) return -1;
  napi_typedarray_type type;
  size_t elements = 0;
  napi_value array_buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, value, &type, &elements, data, &array_buffer, &offset) != napi_ok) return -1;
  if (static_cast<int>(type) < 0 || static_cast<int>(type) > static_cast<int>(napi_biguint64_array)) return -1;
  static constexpr size_t kElementBytes[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
  *length = elements * kElementBytes[type];
  int tag = static_cast<int>(kTagTypedBase) + static_cast<int>(type);
  if (type != napi_uint8_array) return tag;
  napi_value prototype;
  if (napi_get_prototype(env, value, &prototype) != napi_ok) return -1;
  EnvState* state = EnvState::Get(env);
  if (state == nullptr) return -1;
  if (HasPrototype(env, prototype, &state->buffer_prototype, "Buffer")) return static_cast<int>(kTagBuffer);
  return HasPrototype(env, prototype, &state->uint8_prototype, "Uint8Array") ? tag : -1;
}

// Writes `length` bytes as a frame tagged `tag`: true if written, false if
// there is no room now or they could never fit (lib/'s general path says which).
bool WriteBytesFrame(Napi::Env env, RingHandle& handle, const void* data, size_t length, uint32_t tag) {
  if (length > handle.ring.MaxPayload()) return false;
  auto byte_length = static_cast<uint32_t>(length);
  int64_t at = Reserve(env, handle, byte_length);
  if (at < 0) return false;
  auto offset = static_cast<uint32_t>(at);
  if (byte_length > 0) std::memcpy(handle.ring.PayloadAt(offset), data, byte_length);
  handle.ring.Publish(offset, byte_length, tag);
  return true;
}

// Writes `message` now if the addon sends its kind as it is: a string, a
// Buffer or a typed array; with `tag` (lib/ encoded it), `message` is a
// Uint8Array of bytes written with that tag. True if written.
bool WriteMessageNow(Napi::Env env, RingHandle& handle, napi_value message, int tag) {
  napi_valuetype type;
  if (napi_typeof(env, message, &type) != napi_ok) return false;
  if (type == napi_string) return WriteStringFrame(env, handle, message) == 1;
  if (type != napi_object) return false;
  void* data = nullptr;
  size_t length = 0;
  if (tag < 0) {
    tag = BytesTag(env, message, &data, &length);
    if (tag < 0) return false;
  } else {
    napi_typedarray_type ignored;
    napi_value array_buffer;
    size_t offset = 0;
    if (napi_get_typedarray_info(env, message, &ignored, &length, &data, &array_buffer, &offset) != napi_ok)
      return false;
  }
  return WriteBytesFrame(env, handle, data, length, static_cast<uint32_t>(tag));
}

// ringWriteString(ring, text) -> 1 if written, 0 if there is no room now, -1 if it could never fit.
Napi::Value RingWriteString(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int written = WriteStringFrame(env, RingOf(info), info[1]);
  if (written == -2) throw CodeError(env, "ERR_SHM_INVALID_ARG", "the message is not a string");
  return Napi::Number::New(env, written);
}

// ringWriteBytes(ring, bytes: Uint8Array, tag) -> true, or false if there is no room now.
Napi::Value RingWriteBytes(const Napi::CallbackInfo& info) {
  RingHandle& handle = RingOf(info);
  FrameRing& ring = handle.ring;
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  uint32_t length = PayloadLength(info.Env(), ring, static_cast<double>(bytes.ByteLength()));
  int64_t at = Reserve(info.Env(), handle, length);
  if (at < 0) return Napi::Boolean::New(info.Env(), false);
  auto offset = static_cast<uint32_t>(at);
  if (length > 0) std::memcpy(ring.PayloadAt(offset), bytes.Data(), length);
  ring.Publish(offset, length, U32(info[2]));
  return Napi::Boolean::New(info.Env(), true);
}

// ringReserve(ring, payloadBytes) -> the frame's offset in the ring, or -1.
Napi::Value RingReserve(const Napi::CallbackInfo& info) {
  RingHandle& handle = RingOf(info);
  uint32_t length = PayloadLength(info.Env(), handle.ring, info[1].As<Napi::Number>().DoubleValue());
  return Napi::Number::New(info.Env(), static_cast<double>(Reserve(info.Env(), handle, length)));
}

// ringPublish(ring, at, payloadBytes, tag): `at` from ringReserve, with at
// most as many bytes as were reserved there.
Napi::Value RingPublish(const Napi::CallbackInfo& info) {
  FrameRing& ring = RingOf(info).ring;
  uint32_t at = U32(info[1]);
  uint32_t length = PayloadLength(info.Env(), ring, info[2].As<Napi::Number>().DoubleValue());
  if (at % 8 != 0 || static_cast<uint64_t>(at) + FrameSize(length) > ring.capacity()) {
    throw CodeError(info.Env(), "ERR_SHM_INVALID_ARG", "no frame was reserved there");
  }
  ring.Publish(at, length, U32(info[3]));
  return info.Env().Undefined();
}

// Reports `frame` in out: [position, start, length, tag], start being its
// payload's offset in the ring.
void ReportFrame(RingHandle& handle, const Frame& frame) {
  int32_t* out = handle.out;
  out[kOutPosition] = static_cast<int32_t>(frame.position);
  out[kOutStart] = static_cast<int32_t>(frame.at + kFrameHeader);
  out[kOutLength] = static_cast<int32_t>(frame.length);
  out[kOutTag] = static_cast<int32_t>(frame.tag);
}

// ringPeek(ring) -> true with the oldest frame in out, or false if there is
// none (a Pipe's view: ringRelease frees it).
Napi::Value RingPeek(const Napi::CallbackInfo& info) {
  RingHandle& handle = RingOf(info);
  Frame frame;
  if (!Oldest(info.Env(), handle.ring, &frame)) return Napi::Boolean::New(info.Env(), false);
  ReportFrame(handle, frame);
  return Napi::Boolean::New(info.Env(), true);
}

// ringRelease(ring, position, length): frees the frame peeked at `position`.
Napi::Value RingRelease(const Napi::CallbackInfo& info) {
  FrameRing& ring = RingOf(info).ring;
  ring.Release(Frame{U32(info[1]), 0, U32(info[2]), 0});
  return info.Env().Undefined();
}

// The holder-table entry named by argument `index` (lib/ passes only
// entries it was given; checked again so that no argument reaches past it).
int EntryArg(const Napi::CallbackInfo& info, int index) {
  uint32_t entry = U32(info[index]);
  if (entry >= kHolders) throw CodeError(info.Env(), "ERR_SHM_INVALID_ARG", "no such holder entry");
  return static_cast<int>(entry);
}

// ringHold(ring, token) -> the holder entry of the oldest frame, taken as
// a Queue's view for `token` (frame in out); -1 if there is no frame, -2 if
// every entry is in use. The caller holds the get lock.
Napi::Value RingHold(const Napi::CallbackInfo& info) {
  RingHandle& handle = RingOf(info);
  if (!handle.ring.queue()) throw CodeError(info.Env(), "ERR_SHM_INVALID_ARG", "only a Queue's ring holds frames");
  Frame frame;
  int entry = 0;
  switch (handle.ring.Hold(U32(info[1]), &frame, &entry)) {
    case RingStatus::kOk:
      ReportFrame(handle, frame);
      return Napi::Number::New(info.Env(), entry);
    case RingStatus::kCorrupt:
      ThrowCorrupt(info.Env(), handle.ring);
    case RingStatus::kHoldersFull:
      return Napi::Number::New(info.Env(), -2);
    default:  // kEmpty
      return Napi::Number::New(info.Env(), -1);
  }
}

// ringAdopt(ring, entry, deadToken, token) -> true with the entry's frame in
// out if it was deadToken's and is now token's. The caller holds the get lock.
Napi::Value RingAdopt(const Napi::CallbackInfo& info) {
  RingHandle& handle = RingOf(info);
  Frame frame;
  RingStatus status = handle.ring.Adopt(EntryArg(info, 1), U32(info[2]), U32(info[3]), &frame);
  if (status == RingStatus::kCorrupt) ThrowCorrupt(info.Env(), handle.ring);
  bool adopted = status == RingStatus::kOk;
  if (adopted) ReportFrame(handle, frame);
  return Napi::Boolean::New(info.Env(), adopted);
}

// ringUnhold(ring, entry, token) -> false if the entry was no longer token's.
Napi::Value RingUnhold(const Napi::CallbackInfo& info) {
  FrameRing& ring = RingOf(info).ring;
  return Napi::Boolean::New(info.Env(), ring.Unhold(EntryArg(info, 1), U32(info[2])));
}

Napi::Value ReadMessage(Napi::Env env, RingHandle& handle, double spin_ms);

// A typed array, ArrayBuffer or DataView message made here from its frame,
// as lib/channel/codec.ts decode makes it (a copy in memory of its own);
// nullptr for the other kinds (lib/ decodes them), and for a typed array
// whose length is not a whole number of elements (lib/ reports it). A
// Buffer is left to lib/ too: Buffer.allocUnsafe takes it from Node's pool,
// where napi_create_buffer_copy allocates and sets its prototype each time
// (docs/design.md, "Messages"). So is a typed array small enough for V8 to
// keep on its heap (lib/ copies it out with slice()): here it would need an
// ArrayBuffer of its own, which costs several times more.
constexpr uint32_t kOnHeapTypedBytes = 64;  // V8's --typed-array-max-size-in-heap default

napi_value BytesValue(napi_env env, const FrameRing& ring, const Frame& frame) {
  const uint8_t* payload = ring.Payload(frame);
  napi_value value = nullptr;
  bool typed = frame.tag >= kTagTypedBase && frame.tag <= kTagTypedBase + napi_biguint64_array;
  if (!typed && frame.tag != kTagArrayBuffer && frame.tag != kTagDataView) return nullptr;
  if (typed && frame.length <= kOnHeapTypedBytes) return nullptr;
  static constexpr size_t kElementBytes[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
  size_t element = typed ? kElementBytes[frame.tag - kTagTypedBase] : 1;
  if (frame.length % element != 0) return nullptr;
  void* data = nullptr;
  napi_value array_buffer;
  if (napi_create_arraybuffer(env, frame.length, &data, &array_buffer) != napi_ok) return nullptr;
  if (frame.length > 0) std::memcpy(data, payload, frame.length);
  if (frame.tag == kTagArrayBuffer) return array_buffer;
  napi_status status = frame.tag == kTagDataView
                           ? napi_create_dataview(env, frame.length, array_buffer, 0, &value)
                           : napi_create_typedarray(env, static_cast<napi_typedarray_type>(frame.tag - kTagTypedBase),
                                                    frame.length / element, array_buffer, 0, &value);
  return status == napi_ok ? value : nullptr;
}

// ringRead(ring) -> the oldest message, read and freed, if it is a string
// or a typed array, ArrayBuffer or DataView the addon makes (BytesValue);
// undefined if the ring is empty; else its length, with its frame in out,
// left in the ring for lib/ (readLeft). A receive's first try, which spins,
// is RingFirstRead (pipeRecv, queueGet); the spin's length goes to out
// there, 0 here.
Napi::Value RingRead(const Napi::CallbackInfo& info) { return ReadMessage(info.Env(), RingOf(info), 0); }

Napi::Value ReadMessage(Napi::Env env, RingHandle& handle, double spin_ms) {
  FrameRing& ring = handle.ring;
  Frame frame;
  handle.out[kOutSpunUs] = 0;
  if (!Oldest(env, ring, &frame)) {
    if (!(spin_ms > 0)) return env.Undefined();
    int64_t started = MonotonicNowNs();
    bool caught = SpinWhileEqual(ring.EmptyWord(), 0, spin_ms);
    handle.out[kOutSpunUs] = static_cast<int32_t>(std::min<int64_t>((MonotonicNowNs() - started) / 1000, INT32_MAX));
    if (!caught || !Oldest(env, ring, &frame)) return env.Undefined();
  }
  if (frame.tag != kTagString && frame.tag != kTagAscii) {
    napi_value bytes = BytesValue(env, ring, frame);
    if (bytes != nullptr) {
      ring.Release(frame);
      return Napi::Value(env, bytes);
    }
    ReportFrame(handle, frame);
    return Napi::Number::New(env, frame.length);
  }
  const char* text = reinterpret_cast<const char*>(ring.Payload(frame));
  napi_value result;
  napi_status status = frame.tag == kTagAscii ? napi_create_string_latin1(env, text, frame.length, &result)
                                              : napi_create_string_utf8(env, text, frame.length, &result);
  ring.Release(frame);
  if (status != napi_ok) {
    // Longer than this runtime's strings can be: skip it, so that it does
    // not block the messages behind it.
    napi_value ignored;
    (void)napi_get_and_clear_last_exception(env, &ignored);  // the error thrown below says it
    std::string message =
        "a " + std::to_string(frame.length) + "-byte string message could not be decoded and was dropped";
    throw CodeError(env, "ERR_SHM_FORMAT", message.c_str());
  }
  return Napi::Value(env, result);
}

// ringReadInto(ring, target: Uint8Array, bytesOnly) -> the oldest message's
// length, copied into target and freed; -1 if the ring is empty. With
// bytesOnly, a string or serialized message is ERR_SHM_INVALID_ARG; a message
// longer than target is ERR_SHM_INVALID_SIZE (either way it stays).
Napi::Value RingReadInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FrameRing& ring = RingOf(info).ring;
  Napi::Uint8Array target = info[1].As<Napi::Uint8Array>();
  bool bytes_only = info[2].ToBoolean();
  Frame frame;
  if (!Oldest(env, ring, &frame)) return Napi::Number::New(env, -1);
  if (bytes_only && (frame.tag == kTagString || frame.tag == kTagAscii || frame.tag == kTagSerialized)) {
    throw CodeError(env, "ERR_SHM_INVALID_ARG", "the next message is not bytes: receive it with recv()");
  }
  if (frame.length > target.ByteLength()) {
    std::string message = "the next message has " + std::to_string(frame.length) + " bytes; the target holds " +
                          std::to_string(target.ByteLength());
    throw CodeError(env, "ERR_SHM_INVALID_SIZE", message.c_str());
  }
  if (frame.length > 0) std::memcpy(target.Data(), ring.Payload(frame), frame.length);
  ring.Release(frame);
  return Napi::Number::New(env, frame.length);
}

}  // namespace

RingHandle* RingHandleOf(const Napi::Value& value) { return Handle<RingHandle>::From(value); }

bool RingHasData(const RingHandle* handle) { return !handle->mapping->unmapped && handle->ring.HasData(); }

Napi::Value RingFirstRead(const Napi::CallbackInfo& info, RingHandle* handle, int32_t* spinner) {
  Napi::Env env = info.Env();
  if (handle->mapping->unmapped) {
    RingNoRead(handle);
    return env.Undefined();
  }
  double max_spin_ms = info.Length() > 1 ? info[1].As<Napi::Number>().DoubleValue() : HUGE_VAL;
  bool async = info.Length() > 2;
  Napi::Value read =
      ReadMessage(env, *handle, std::min(SpinBudget(spinner, async && info[2].ToBoolean()), max_spin_ms));
  double spun_ms = handle->out[kOutSpunUs] * 0.001;
  bool caught = !read.IsUndefined();
  if (!async) {
    if (caught) SpinWaited(spinner, spun_ms);
  } else if (spun_ms > 0) {
    SpinSpun(spinner, caught);
    if (caught) SpinWaited(spinner, spun_ms);
  }
  return read;
}

void RingNoRead(RingHandle* handle) { handle->out[kOutSpunUs] = -1; }

int32_t* RingControlWord(RingHandle* handle, int index) {
  return handle->mapping->unmapped ? nullptr : handle->ring.words() + index;
}

bool RingHoldsViews(const RingHandle* handle) { return !handle->mapping->unmapped && handle->ring.HoldsViews(); }

bool RingWriteNow(const Napi::CallbackInfo& info, RingHandle* handle) {
  int tag = info[2].As<Napi::Number>().Int32Value();
  return !handle->mapping->unmapped && WriteMessageNow(info.Env(), *handle, info[1], tag);
}

void InitRing(Napi::Env env, Napi::Object exports) {
  Bind(env, exports,
       {
           {"ringOpen", RingOpen},
           {"ringWriteString", RingWriteString},
           {"ringWriteBytes", RingWriteBytes},
           {"ringReserve", RingReserve},
           {"ringPublish", RingPublish},
           {"ringPeek", RingPeek},
           {"ringRelease", RingRelease},
           {"ringHold", RingHold},
           {"ringAdopt", RingAdopt},
           {"ringUnhold", RingUnhold},
           {"ringRead", RingRead},
           {"ringReadInto", RingReadInto},
       });
}

}  // namespace shmkit

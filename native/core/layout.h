// The shared-memory layout that the addon and lib/ both read and write: its
// one definition. `npm run layout` (scripts/gen-layout.mjs) writes
// lib/core/layout.ts and native/core/layout_values.cc from this file, and
// test/layout.test.ts fails when either is not what this file makes, or when
// the addon that loaded was built from other values than lib/ has.
// docs/format.md describes the same layout for C and Python readers.
//
// Every constant is one line, `constexpr TYPE kName = VALUE;  // Group.member`
// (an integer, a hex integer or a string literal): the comment names it in JS.
#pragma once
#include <cstddef>
#include <cstdint>

namespace shmkit::layout {

// A lock word (docs/format.md, "Writers and the lock").
constexpr int32_t kLockWaiters = 0x40000000;    // LockBits.waiters
constexpr int32_t kLockOwnerMask = 0x3fffffff;  // LockBits.ownerMask

// A ring's control words: int32 indexes from its start, one cache line per
// group (docs/format.md, "Queue and Pipe"): what the writer stores per
// message, what the reader stores per message, the fixed words, the waiting
// flags (read per message, written only by a waiter about to sleep), and a
// Queue's holder table.
constexpr int kTail = 0;                // RingWord.tail
constexpr int kPutLock = 2;             // RingWord.putLock
constexpr int kHead = 16;               // RingWord.head
constexpr int kCursor = 17;             // RingWord.cursor
constexpr int kGetLock = 18;            // RingWord.getLock
constexpr int kHeldCount = 19;          // RingWord.heldCount
constexpr int kCount = 32;              // RingWord.count
constexpr int kMaxsize = 33;            // RingWord.maxsize
constexpr int kCapacity = 34;           // RingWord.capacity
constexpr int kCounted = 35;            // RingWord.counted
constexpr int kReadersWaiting = 48;     // RingWord.readersWaiting
constexpr int kWritersWaiting = 49;     // RingWord.writersWaiting
constexpr int kHolderPosition = 64;     // RingWord.holderPosition
constexpr int kHolderToken = 96;        // RingWord.holderToken
constexpr int kHolders = 32;            // RingSize.holders
constexpr int kRingControlBytes = 512;  // RingSize.controlBytes
constexpr int kFrameHeader = 8;         // RingSize.frameHeader

// A frame header's second word: 0 where nothing is published, else the
// message's tag with kPublished set, or kPadding.
constexpr uint32_t kPublished = 0x80000000;  // FrameWord.published
constexpr uint32_t kPadding = 0xffffffff;    // FrameWord.padding

// Message tags: what a frame's (or a SharedMap entry's) bytes are.
constexpr uint32_t kTagBuffer = 0;       // Tag.buffer
constexpr uint32_t kTagString = 1;       // Tag.string
constexpr uint32_t kTagSerialized = 2;   // Tag.serialized
constexpr uint32_t kTagArrayBuffer = 3;  // Tag.arrayBuffer
constexpr uint32_t kTagDataView = 4;     // Tag.dataView
constexpr uint32_t kTagAscii = 5;        // Tag.asciiString
constexpr uint32_t kTagNumber = 6;       // Tag.number
constexpr uint32_t kTagTrue = 7;         // Tag.true
constexpr uint32_t kTagFalse = 8;        // Tag.false
constexpr uint32_t kTagNull = 9;         // Tag.null
constexpr uint32_t kTagUndefined = 10;   // Tag.undefined
constexpr uint32_t kTagMsgpack = 11;     // Tag.msgpack
constexpr uint32_t kTagHandles = 12;     // Tag.handles
constexpr uint32_t kTagTypedBase = 16;   // Tag.typedBase

// What the ring calls report to lib/ beside their result, in the handle's
// Int32Array (no object is made per message to say it).
constexpr int kOutPosition = 0;      // RingOut.position
constexpr int kOutStart = 1;         // RingOut.start
constexpr int kOutLength = 2;        // RingOut.length
constexpr int kOutTag = 3;           // RingOut.tag
constexpr int kOutHeadWhenFull = 4;  // RingOut.headWhenFull
constexpr int kOutSpunUs = 5;        // RingOut.spunUs
constexpr int kOutWords = 6;         // RingOut.words

// A Pipe's control words (int32, at the start of its data): each end's
// holder token (end 0, end 1), then each end's closed flag.
constexpr int kEndToken = 0;           // PipeWord.endToken
constexpr int kEndClosed = 2;          // PipeWord.endClosed
constexpr int kPipeControlBytes = 64;  // PipeWord.controlBytes

// A wait site's spinning counters (lib/sync/waiting.ts Spinner owns them;
// native/wait/spinner.cc keeps the rule).
constexpr int kLongWaits = 0;     // SpinnerWord.longWaits
constexpr int kMisses = 1;        // SpinnerWord.misses
constexpr int kWaits = 2;         // SpinnerWord.waits
constexpr int kSpinnerWords = 3;  // SpinnerWord.words

// How an async wait ends: the Promise's value.
constexpr const char* kWaitOk = "ok";                // WaitEnd.ok
constexpr const char* kWaitNotEqual = "not-equal";   // WaitEnd.notEqual
constexpr const char* kWaitTimedOut = "timed-out";   // WaitEnd.timedOut
constexpr const char* kWaitCancelled = "cancelled";  // WaitEnd.cancelled
constexpr const char* kWaitClosed = "closed";        // WaitEnd.closed

}  // namespace shmkit::layout

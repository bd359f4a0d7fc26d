// A channel's ring (Queue, Pipe): the frame protocol of docs/format.md
// ("Queue and Pipe") over a ring's control words and data, in plain C++ (no
// N-API), so that it is tested on its own (test/native-protocol.test.ts).
// Every operation says what it found as a RingStatus; the bindings
// (ring.cc) turn that into JS values and ShmErrors.
#pragma once
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/atomics.h"
#include "core/layout.h"
#include "wait/notify.h"

namespace shmkit {

// What a ring operation found.
enum class RingStatus {
  kOk,
  kEmpty,        // no frame to take
  kNoRoom,       // no room for the frame now (head_when_full() is HEAD as the writer saw it)
  kTooLarge,     // a frame of that payload could never fit the ring
  kHoldersFull,  // every holder-table entry is in use (the frame stays)
  kNotHeld,      // the holder-table entry is not the given token's
  kCorrupt,      // words that cannot be right (another program wrote them): corruption() says what was done
};

// The bytes a frame of `payload` bytes takes: its header, and the payload padded to 8.
inline uint32_t FrameSize(uint32_t payload) { return layout::kFrameHeader + ((payload + 7) & ~7u); }

// A published frame that a reader found.
struct Frame {
  uint32_t position;  // where it starts, in bytes ever published
  uint32_t at;        // offset of the frame header in the ring
  uint32_t length;
  uint32_t tag;
};

// One handle's view of a ring: where it is, and what this handle's writer
// remembers between messages (one writer at a time per ring: a Pipe end's
// own, or a Queue's producer holding the put lock).
//
// A Pipe's reader takes and frees frames in order, so HEAD is both where it
// reads and what it has freed. A Queue's consumers take frames at CURSOR
// (holding the get lock) and may hold several as views at once, released in
// any order: HEAD is then the oldest frame still held (the holder table
// says which), else CURSOR, and only moves forward (compare-and-swap), since
// a consumer releasing a view does not hold the get lock.
//
// Words that cannot be right (another program wrote them) make an
// operation drop everything published, so the ring works again, and return
// kCorrupt: a writer never goes on publishing where no reader looks, and a
// reader never reads outside the ring.
class FrameRing {
 public:
  // Whether `capacity` (the CAPACITY word) can be a ring's: a power of two of at least 64 bytes.
  static bool CapacityValid(uint32_t capacity) { return capacity >= 64 && (capacity & (capacity - 1)) == 0; }

  // The ring whose control words (layout::kRingControlBytes) start at
  // `words`, its `capacity` bytes of data (CapacityValid) right after them.
  FrameRing(int32_t* words, uint32_t capacity);

  bool queue() const { return queue_; }
  uint32_t capacity() const { return capacity_; }
  int32_t* words() const { return words_; }
  // The largest payload a frame can have: its header and the empty header after it take the rest.
  uint32_t MaxPayload() const { return capacity_ - 2 * layout::kFrameHeader; }
  // Where the payload of the frame at `at` goes, and where a frame's was.
  uint8_t* PayloadAt(uint32_t at) const { return data_ + at + layout::kFrameHeader; }
  const uint8_t* Payload(const Frame& frame) const { return PayloadAt(frame.at); }

  // Room for a frame of `payload` bytes at the tail, contiguous (a padding
  // frame to the ring's end is published first when the frame would run
  // past it), its offset in *at: kOk, kNoRoom, kTooLarge or kCorrupt.
  RingStatus Reserve(uint32_t payload, uint32_t* at);

  // HEAD as the writer saw it when it last found no room: what it waits to see move.
  uint32_t head_when_full() const { return head_when_full_; }

  // Publishes the frame reserved at `at`, its payload written.
  void Publish(uint32_t at, uint32_t payload, uint32_t tag);

  // The oldest frame not yet taken (at HEAD, or a Queue's CURSOR), checked
  // against what is published: kOk, kEmpty or kCorrupt. Padding frames are
  // taken on the way.
  RingStatus Oldest(Frame* frame);

  // Frees a frame that has been read (copied out, or a Pipe's view released).
  void Release(const Frame& frame);

  // A frame is published that no reader has taken yet (a padding frame
  // counts): its header says so, which a reader's cache already holds when
  // the frame's line came across (TAIL would be a second line to fetch).
  bool HasData() const { return Load(EmptyWord()) != 0; }

  // The word that stays 0 while the ring is empty (the tag word where the
  // next frame goes): what a reader spins on. A read position where no
  // frame starts (another program wrote it) is rounded down to one, so the
  // word is in the ring; Oldest then finds it corrupt.
  const int32_t* EmptyWord() const {
    return reinterpret_cast<const int32_t*>(data_ + (Load(words_ + read_word_) & mask_ & ~7u) + 4);
  }

  // Whether a consumer holds a frame of this Queue's ring as a view.
  bool HoldsViews() const { return Load(words_ + layout::kHeldCount) != 0; }

  // A Queue's view: takes the oldest frame for the consumer `token` and
  // enters it in the holder table, at *entry: kOk, kEmpty, kHoldersFull
  // (the frame stays) or kCorrupt. The caller holds the get lock, so no
  // other consumer enters frames meanwhile.
  RingStatus Hold(uint32_t token, Frame* frame, int* entry);

  // Takes over entry `entry` from `dead` (a consumer that died holding it)
  // for `token`, with its frame in `frame`: kOk, kNotHeld if the entry is no
  // longer `dead`'s, or kCorrupt (a frame that cannot be right is freed).
  RingStatus Adopt(int entry, uint32_t dead, uint32_t token, Frame* frame);

  // Ends `token`'s hold of entry `entry` and lets HEAD move up to the next
  // frame still held; false if the entry is not `token`'s (it was dropped).
  bool Unhold(int entry, uint32_t token);

  // What the last kCorrupt found and did, as an error message.
  const std::string& corruption() const { return corruption_; }

 private:
  // A writer past this many bytes of the ring that finds it empty wraps at
  // once (WrapEarly), in a ring of at least four times as many.
  static constexpr uint32_t kHotBytes = 64 * 1024;

  static uint32_t RoomFor(uint32_t payload);
  void WakeIfFlagged(int flag, int word);
  uint32_t TagAt(uint32_t at) const { return Load(reinterpret_cast<const int32_t*>(data_ + at + 4)); }
  bool FrameFits(uint32_t at, uint32_t length) const;
  bool CursorAfterHead(uint32_t cursor) const;
  uint32_t PublishFrame(uint32_t at, uint32_t length, uint32_t tag);
  RingStatus CatchUpTail(uint32_t* tail);
  RingStatus PublishedPast(uint32_t position);
  RingStatus EmptyCounted(uint32_t tail);
  RingStatus Corrupt(const std::string& what);
  RingStatus DropHeld(int entry, uint32_t token);
  RingStatus Room(uint32_t tail, uint32_t need);
  bool WrapEarly(uint32_t tail, uint32_t at);
  RingStatus NoRoom();
  void Taken(uint32_t position, uint32_t bytes, bool message);
  void HeadFollows(uint32_t cursor);
  void AdvanceHead(uint32_t target);
  uint32_t OldestTaken() const;
  bool SkipOwnPadding(uint32_t padding, uint32_t end);
  void DropAll(uint32_t tail);

  int32_t* words_;
  uint8_t* data_;
  uint32_t capacity_;
  uint32_t mask_;
  bool queue_;     // a Queue's ring: COUNT kept, frames taken at CURSOR, views in the holder table
  int read_word_;  // where frames are taken: HEAD (a Pipe) or CURSOR (a Queue)
  // Fixed at creation, so read once: COUNT, which every put and get
  // changes, shares its cache line, and a writer reading it per message
  // would pull that line across on every message of an unbounded queue.
  int32_t maxsize_;
  uint32_t cached_head_ = 0;
  uint32_t tail_written_ = 0;
  bool tail_known_ = false;
  bool asked_this_lap_ = false;  // WrapEarly was asked in this lap of the ring
  uint32_t head_when_full_ = 0;
  std::string corruption_;
};

// The per-message path (a reserve, a publish, a read, a free, and what they
// call) is inline, so that the bindings' calls to it are no calls, as when
// the protocol and the bindings were one file: a call to another file goes
// through the addon's PLT and inlines nothing, which a message's round trip
// measurably paid (docs/design.md, "Rings in the addon"). The rest, met once
// a view is held or a ring is corrupt, is in frame_ring.cc.

// Readers find frames by a frame header's second word (kPublished | tag, or
// kPadding; 0 where nothing is published), not by TAIL (docs/format.md,
// "Frames"), and the header where the next frame goes is always 0: a writer
// zeroes it before it publishes, so every frame keeps one header's room free
// after it.

// The room a frame needs: itself, and the header after it that stays 0.
inline uint32_t FrameRing::RoomFor(uint32_t payload) { return FrameSize(payload) + layout::kFrameHeader; }

// After moving `word`: if a sleeper flagged itself, clear the flag and wake
// the word's sleepers, ringing the flagged doorbell first. A failed wake is
// not reported: the message is already published (a sender told otherwise
// would send it twice), and sleepers re-check at the end of their slice.
inline void FrameRing::WakeIfFlagged(int flag, int word) {
  uint32_t flagged = Load(words_ + flag);
  if (flagged == 0) return;
  Store(words_ + flag, 0);
  NotifyWord(words_ + word, INT32_MAX, flagged);
}

inline RingStatus FrameRing::Reserve(uint32_t payload, uint32_t* reserved) {
  if (payload > MaxPayload()) return RingStatus::kTooLarge;
  uint32_t need = RoomFor(payload);
  // TAIL first: a frame it catches up with is counted before COUNT is compared.
  uint32_t tail = 0;
  if (CatchUpTail(&tail) == RingStatus::kCorrupt) return RingStatus::kCorrupt;
  if (maxsize_ > 0) {
    auto count = static_cast<int32_t>(Load(words_ + layout::kCount));
    if (count > maxsize_) return Corrupt("a message count over maxsize");
    if (count == maxsize_) return NoRoom();
  }
  uint32_t at = tail & mask_;
  uint32_t to_end = capacity_ - at;
  if (FrameSize(payload) > to_end || WrapEarly(tail, at)) {
    RingStatus room = Room(tail, to_end + layout::kFrameHeader);
    if (room != RingStatus::kOk) return room;
    uint32_t padding = tail;
    tail = PublishFrame(at, to_end - layout::kFrameHeader, layout::kPadding);
    // If everything before the padding was read, skip it here, so that a
    // message over half the ring fits an empty ring with no reader's help;
    // else a reader frees it: wake one that sleeps.
    if (!SkipOwnPadding(padding, tail)) WakeIfFlagged(layout::kReadersWaiting, layout::kTail);
    at = 0;
  }
  RingStatus room = Room(tail, need);
  if (room == RingStatus::kOk) *reserved = at;
  return room;
}

inline void FrameRing::Publish(uint32_t at, uint32_t payload, uint32_t tag) {
  PublishFrame(at, payload, tag | layout::kPublished);
  if (queue_) Add(words_ + layout::kCount, 1);
  WakeIfFlagged(layout::kReadersWaiting, layout::kTail);
}

inline RingStatus FrameRing::Oldest(Frame* frame) {
  for (;;) {
    uint32_t position = Load(words_ + read_word_);
    if ((position & 7) != 0) return Corrupt("a read position that no frame starts at");
    if (queue_ && !CursorAfterHead(position)) return Corrupt("a cursor behind head, or more than a ring ahead of it");
    uint32_t at = position & mask_;
    uint32_t tag = TagAt(at);
    if (tag == 0) {
      RingStatus past = PublishedPast(position);
      if (past != RingStatus::kOk) return past;
      continue;  // published meanwhile
    }
    uint32_t length;
    std::memcpy(&length, data_ + at, 4);
    // A writer that skipped a padding frame here may already be writing over it: read again.
    if (Load(words_ + read_word_) != position) continue;
    bool padding = tag == layout::kPadding;
    uint64_t end = static_cast<uint64_t>(at) + FrameSize(length);
    if ((tag & layout::kPublished) == 0 || !FrameFits(at, length) || (padding && end != capacity_)) {
      return Corrupt("a " + std::to_string(length) + "-byte frame");
    }
    if (!padding) {
      *frame = Frame{position, at, length, tag & ~layout::kPublished};
      return RingStatus::kOk;
    }
    Taken(position, static_cast<uint32_t>(end - at), false);
  }
}

// A frame (or padding) at `position` has been taken, not held: past it
// go HEAD (a Pipe: one store) or CURSOR, and HEAD too unless a Queue's
// consumer holds an older frame (whose release moves HEAD then).
inline void FrameRing::Release(const Frame& frame) { Taken(frame.position, FrameSize(frame.length), true); }

// Whether a Queue's CURSOR `cursor` is where it can be: HEAD follows it
// (or the oldest frame held behind it), so it is at most a ring ahead of
// HEAD and never behind. One behind (another program moved it back)
// would take frames again that were taken. HEAD moves only up to CURSOR,
// so a HEAD past it means CURSOR moved meanwhile (a writer skipping its
// padding), which the caller looks at again.
inline bool FrameRing::CursorAfterHead(uint32_t cursor) const {
  return cursor - Load(words_ + layout::kHead) <= capacity_ || Load(words_ + layout::kCursor) != cursor;
}

// Whether a frame of `length` at `at` can be right: at most the largest
// payload, and not running past the ring's end. The length is checked
// first, so FrameSize cannot overflow.
inline bool FrameRing::FrameFits(uint32_t at, uint32_t length) const {
  return length <= MaxPayload() && at + FrameSize(length) <= capacity_;
}

// Writes the header of the frame at `at` (its payload written) and
// publishes it: the header after it is zeroed first, then the tag word
// stored (what readers wait for), then TAIL (what sleeping readers wait
// on, and writers count room from). The new TAIL.
//
// The zero and the tag word are release stores: each keeps the stores
// before it ahead of it, which is all a reader needs (it loads the tag
// word, then the rest). A sequentially consistent store (xchg on x86)
// would also wait for the cache line, which a spinning reader holds:
// twice per message, once for the zero and again for the tag word when
// the reader took the line back in between (docs/design.md, "Rings in the
// addon"). The TAIL store stays sequentially consistent: a sleeping
// reader flags itself and then reads TAIL, the writer stores TAIL and
// then reads the flag (WakeIfFlagged), and one of them must see the other.
inline uint32_t FrameRing::PublishFrame(uint32_t at, uint32_t length, uint32_t tag) {
  uint32_t size = FrameSize(length);
  StoreRelease(reinterpret_cast<int32_t*>(data_ + ((at + size) & mask_) + 4), 0);
  std::memcpy(data_ + at, &length, 4);
  StoreRelease(reinterpret_cast<int32_t*>(data_ + at + 4), tag);
  uint32_t tail = Load(words_ + layout::kTail) + size;
  Store(words_ + layout::kTail, tail);
  tail_written_ = tail;
  tail_known_ = true;
  return tail;
}

// TAIL in *tail, moved first past a frame published at it whose writer
// died between storing its tag word and TAIL (readers may have taken it
// already). A header there that cannot be right is written over. A TAIL
// that no frame can start at is corruption: checked before any use, since
// a frame from there could run past the ring.
inline RingStatus FrameRing::CatchUpTail(uint32_t* caught_up) {
  uint32_t tail = Load(words_ + layout::kTail);
  for (;;) {
    if ((tail & 7) != 0) return Corrupt("a tail that no frame starts at");
    uint32_t at = tail & mask_;
    uint32_t tag = TagAt(at);
    if ((tag & layout::kPublished) == 0) break;
    uint32_t length;
    std::memcpy(&length, data_ + at, 4);
    if (!FrameFits(at, length)) break;
    uint32_t next = tail + FrameSize(length);
    if (next - Load(words_ + layout::kHead) > capacity_) break;
    if (CompareExchange(words_ + layout::kTail, tail, next)) {
      tail_known_ = false;
      if (queue_ && tag != layout::kPadding) Add(words_ + layout::kCount, 1);
    }
    tail = Load(words_ + layout::kTail);
  }
  *caught_up = tail;
  return RingStatus::kOk;
}

// With the header at `position` empty: kEmpty if nothing is published
// there, kOk if it was published meanwhile, or if the read position is
// no longer `position` (look again). The second: a writer that skipped
// its own padding frame at `position` moved the read position past it,
// and may since have published up to it again, zeroing its header (the
// writer moves the read position before TAIL, which is read first here,
// so a TAIL that far on means the move is seen). Another program wrote the
// ring (kCorrupt) if TAIL is past it (a writer stores the tag word first,
// and TAIL is read before the header again), or if it is past TAIL while
// nothing is being published at TAIL: a reader is ahead of TAIL only
// after taking a frame whose writer has stored its tag word but not yet
// TAIL (or died in between), and that frame's tag word is at TAIL. The
// second check is what catches a frame length written wrong but within
// the ring: reading it took the reader past everything published.
inline RingStatus FrameRing::PublishedPast(uint32_t position) {
  uint32_t tail = Load(words_ + layout::kTail);
  if (TagAt(position & mask_) != 0 || Load(words_ + read_word_) != position) return RingStatus::kOk;
  if (tail == position) return queue_ ? EmptyCounted(tail) : RingStatus::kEmpty;
  if ((tail & 7) != 0) return Corrupt("a tail that no frame starts at");
  if (tail - position <= capacity_) return Corrupt("frames published behind an empty header");
  if (position - tail > capacity_) return Corrupt("a read position more than a ring away from tail");
  if ((TagAt(tail & mask_) & layout::kPublished) == 0 && Load(words_ + layout::kTail) == tail) {
    return Corrupt("a read position past everything published");
  }
  return RingStatus::kEmpty;
}

// With nothing to take (TAIL at CURSOR), a Queue's COUNT is 0, or -1
// while a writer is between storing TAIL and adding its message to COUNT
// (a consumer may have taken the message off already): kEmpty. Another
// value is another program's (kCorrupt): a bounded queue would refuse
// messages for one above, for good, and take more than its maxsize for one
// below. COUNT is read after TAIL, so a message published meanwhile has
// moved TAIL: read again.
inline RingStatus FrameRing::EmptyCounted(uint32_t tail) {
  auto count = static_cast<int32_t>(Load(words_ + layout::kCount));
  if ((count > 0 || count < -1) && Load(words_ + layout::kTail) == tail) {
    return Corrupt("a message count of " + std::to_string(count) + " with no message published");
  }
  return RingStatus::kEmpty;
}

// Whether `need` bytes are free ahead of `tail` (kOk, else kNoRoom or
// kCorrupt). Counted from HEAD as this writer last read it, which is never
// ahead of the real one, and read again only when that is too little: a
// writer does not pull the reader's cache line on every message. HEAD is
// never past TAIL here (a reader past it took a frame whose TAIL
// CatchUpTail has stored since), nor more than a ring behind it: if the
// HEAD read now is, another program wrote one of them (a free count over
// the capacity). And what is between them was published, so a ring
// without room that is not empty has a frame at HEAD: tags stay until
// written over, and the writer writes only ahead of TAIL. Without one,
// TAIL was moved ahead (a ring would look full to its writers for good
// while its reader has nothing to read).
inline RingStatus FrameRing::Room(uint32_t tail, uint32_t need) {
  uint32_t free = capacity_ - (tail - cached_head_);
  // Only while no other writer moved TAIL (a Queue's producers take turns) is the cache within one ring of it.
  if (free < need || free > capacity_ || !tail_known_ || tail != tail_written_) {
    uint32_t head = Load(words_ + layout::kHead);
    cached_head_ = head;
    free = capacity_ - (tail - head);
    if (free > capacity_) return Corrupt("a tail more than a ring away from head");
    if (free < need && head != tail && ((head & 7) != 0 || TagAt(head & mask_) == 0)) {
      return Corrupt("no frame at head of a full ring");
    }
  }
  return free < need ? NoRoom() : RingStatus::kOk;
}

// Whether the frame at `at` (TAIL `tail`) goes to the ring's start
// instead, after a padding frame to its end: when it is the first frame
// of this lap past kHotBytes and every frame is taken (HEAD is at TAIL).
// Request/reply traffic then stays in the ring's first kHotBytes, memory
// that its last lap touched, instead of going on through memory that no
// one touched for a whole lap (or ever, in a new ring): on this VM a
// round trip through such memory was slower even with its pages mapped
// (docs/design.md, "Keeping to memory touched"). Asked once a lap, so a
// writer streaming messages, whose ring is seldom empty, loads HEAD (the
// reader's line) once a lap for it.
inline bool FrameRing::WrapEarly(uint32_t tail, uint32_t at) {
  if (at < kHotBytes || capacity_ < 4 * kHotBytes) {
    asked_this_lap_ = false;
    return false;
  }
  if (asked_this_lap_) return false;
  asked_this_lap_ = true;
  uint32_t head = Load(words_ + layout::kHead);
  cached_head_ = head;
  return head == tail;
}

// Remembers HEAD as a writer that found no room saw it: what it waits to see move.
inline RingStatus FrameRing::NoRoom() {
  head_when_full_ = Load(words_ + layout::kHead);
  return RingStatus::kNoRoom;
}

inline void FrameRing::Taken(uint32_t position, uint32_t bytes, bool message) {
  uint32_t next = position + bytes;
  if (!queue_) {
    Store(words_ + layout::kHead, next);
    WakeIfFlagged(layout::kWritersWaiting, layout::kHead);
    return;
  }
  Store(words_ + layout::kCursor, next);
  if (message) Add(words_ + layout::kCount, -1);
  HeadFollows(next);
}

// After a Queue's CURSOR moved to `cursor`: HEAD moves up to it, or to the
// oldest frame still held. CURSOR is stored before HELD_COUNT is read, as
// Unhold does the reverse: of a release and a take at once, at least one
// sees the other. With entries in use HEAD still moves up to the oldest,
// so a count that another program wrote wrong costs a scan per take,
// never a ring whose room stops coming back.
inline void FrameRing::HeadFollows(uint32_t cursor) {
  AdvanceHead(Load(words_ + layout::kHeldCount) == 0 ? cursor : OldestTaken());
}

// Moves HEAD forward to `target` unless it is there or past it already.
inline void FrameRing::AdvanceHead(uint32_t target) {
  uint32_t head = Load(words_ + layout::kHead);
  while (target - head - 1 < capacity_) {  // 0 < target - head <= capacity
    if (CompareExchangeSeen(words_ + layout::kHead, &head, target)) {
      WakeIfFlagged(layout::kWritersWaiting, layout::kHead);
      return;
    }
  }
}

// The writer takes its own padding frame from `padding` to `end` if
// everything before it was taken (true), so that no reader must. A Pipe's
// reader has also freed everything then (HEAD is at the padding). A
// Queue's writer moves CURSOR past it, then HEAD as a consumer's take
// would: a consumer that took the frame before the padding may not have
// moved HEAD yet, and once CURSOR is past the padding no consumer would
// move it past the padding.
inline bool FrameRing::SkipOwnPadding(uint32_t padding, uint32_t end) {
  if (!queue_) return CompareExchange(words_ + layout::kHead, padding, end);
  if (!CompareExchange(words_ + layout::kCursor, padding, end)) return false;
  HeadFollows(end);
  return true;
}

}  // namespace shmkit

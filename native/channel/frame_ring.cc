#include "channel/frame_ring.h"

#include <cstring>

#include "wait/notify.h"

namespace shmkit {

namespace {

using namespace layout;  // the ring's words, frame words and tags (layout.h)

// A writer past this many bytes of the ring that finds it empty wraps at
// once (FrameRing::WrapEarly), in a ring of at least four times as many.
constexpr uint32_t kHotBytes = 64 * 1024;
// Readers find frames by a frame header's second word (kPublished | tag, or
// kPadding; 0 where nothing is published), not by TAIL (docs/format.md,
// "Frames"), and the header where the next frame goes is always 0: a writer
// zeroes it before it publishes, so every frame keeps one header's room free
// after it.

// The room a frame needs: itself, and the header after it that stays 0.
uint32_t RoomFor(uint32_t payload) { return FrameSize(payload) + kFrameHeader; }

// After moving `word`: if a sleeper flagged itself, clear the flag and wake
// the word's sleepers, ringing the flagged doorbell first. A failed wake is
// not reported: the message is already published (a sender told otherwise
// would send it twice), and sleepers re-check at the end of their slice.
void WakeIfFlagged(int32_t* words, int flag, int word) {
  uint32_t flagged = Load(words + flag);
  if (flagged == 0) return;
  Store(words + flag, 0);
  NotifyWord(words + word, INT32_MAX, flagged);
}

}  // namespace

FrameRing::FrameRing(int32_t* words, uint32_t capacity)
    : words_(words),
      data_(reinterpret_cast<uint8_t*>(words) + kRingControlBytes),
      capacity_(capacity),
      mask_(capacity - 1),
      queue_(Load(words + kCounted) == 1),
      read_word_(queue_ ? kCursor : kHead),
      maxsize_(static_cast<int32_t>(Load(words + kMaxsize))) {}

RingStatus FrameRing::Reserve(uint32_t payload, uint32_t* reserved) {
  if (payload > MaxPayload()) return RingStatus::kTooLarge;
  uint32_t need = RoomFor(payload);
  // TAIL first: a frame it catches up with is counted before COUNT is compared.
  uint32_t tail;
  if (CatchUpTail(&tail) == RingStatus::kCorrupt) return RingStatus::kCorrupt;
  if (maxsize_ > 0) {
    auto count = static_cast<int32_t>(Load(words_ + kCount));
    if (count > maxsize_) return Corrupt("a message count over maxsize");
    if (count == maxsize_) return NoRoom();
  }
  uint32_t at = tail & mask_;
  uint32_t to_end = capacity_ - at;
  if (FrameSize(payload) > to_end || WrapEarly(tail, at)) {
    RingStatus room = Room(tail, to_end + kFrameHeader);
    if (room != RingStatus::kOk) return room;
    uint32_t padding = tail;
    tail = PublishFrame(at, to_end - kFrameHeader, kPadding);
    // If everything before the padding was read, skip it here, so that a
    // message over half the ring fits an empty ring with no reader's help;
    // else a reader frees it: wake one that sleeps.
    if (!SkipOwnPadding(padding, tail)) WakeIfFlagged(words_, kReadersWaiting, kTail);
    at = 0;
  }
  RingStatus room = Room(tail, need);
  if (room == RingStatus::kOk) *reserved = at;
  return room;
}

void FrameRing::Publish(uint32_t at, uint32_t payload, uint32_t tag) {
  PublishFrame(at, payload, tag | kPublished);
  if (queue_) Add(words_ + kCount, 1);
  WakeIfFlagged(words_, kReadersWaiting, kTail);
}

RingStatus FrameRing::Oldest(Frame* frame) {
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
    bool padding = tag == kPadding;
    uint64_t end = static_cast<uint64_t>(at) + FrameSize(length);
    if ((tag & kPublished) == 0 || !FrameFits(at, length) || (padding && end != capacity_)) {
      return Corrupt("a " + std::to_string(length) + "-byte frame");
    }
    if (!padding) {
      *frame = Frame{position, at, length, tag & ~kPublished};
      return RingStatus::kOk;
    }
    Taken(position, static_cast<uint32_t>(end - at), false);
  }
}

// Whether a Queue's CURSOR `cursor` is where it can be: HEAD follows it
// (or the oldest frame held behind it), so it is at most a ring ahead of
// HEAD and never behind. One behind (another program moved it back)
// would take frames again that were taken. HEAD moves only up to CURSOR,
// so a HEAD past it means CURSOR moved meanwhile (a writer skipping its
// padding), which the caller looks at again.
bool FrameRing::CursorAfterHead(uint32_t cursor) const {
  return cursor - Load(words_ + kHead) <= capacity_ || Load(words_ + kCursor) != cursor;
}

RingStatus FrameRing::Hold(uint32_t token, Frame* frame, int* held) {
  RingStatus oldest = Oldest(frame);
  if (oldest != RingStatus::kOk) return oldest;
  int entry = 0;
  while (entry < kHolders && Load(words_ + kHolderToken + entry) != 0) entry++;
  if (entry == kHolders) return RingStatus::kHoldersFull;
  // Entered before CURSOR passes it: a release that reads CURSOR first
  // and then the table sees the frame in one or the other.
  Store(words_ + kHolderPosition + entry, frame->position);
  Add(words_ + kHeldCount, 1);
  Store(words_ + kHolderToken + entry, token);
  Store(words_ + kCursor, frame->position + FrameSize(frame->length));
  Add(words_ + kCount, -1);
  *held = entry;
  return RingStatus::kOk;
}

RingStatus FrameRing::Adopt(int entry, uint32_t dead, uint32_t token, Frame* frame) {
  if (entry < 0 || entry >= kHolders) return RingStatus::kNotHeld;
  if (!CompareExchange(words_ + kHolderToken + entry, dead, token)) return RingStatus::kNotHeld;
  uint32_t position = Load(words_ + kHolderPosition + entry);
  // Checked before a header is read there: one read where no frame starts could run past the ring's end.
  if ((position & 7) != 0) return DropHeld(entry, token);
  uint32_t at = position & mask_;
  uint32_t length, tag;
  std::memcpy(&length, data_ + at, 4);
  std::memcpy(&tag, data_ + at + 4, 4);
  uint32_t taken = Load(words_ + kCursor) - position;
  if (tag == kPadding || (tag & kPublished) == 0 || !FrameFits(at, length) || taken > capacity_ ||
      FrameSize(length) > taken) {
    return DropHeld(entry, token);
  }
  *frame = Frame{position, at, length, tag & ~kPublished};
  return RingStatus::kOk;
}

// A held frame that cannot be right: freed (the entry ends), and kCorrupt.
RingStatus FrameRing::DropHeld(int entry, uint32_t token) {
  Unhold(entry, token);
  corruption_ = "corrupt ring: a held frame that cannot be right was dropped";
  return RingStatus::kCorrupt;
}

bool FrameRing::Unhold(int entry, uint32_t token) {
  if (entry < 0 || entry >= kHolders) return false;
  if (!CompareExchange(words_ + kHolderToken + entry, token, 0)) return false;
  Add(words_ + kHeldCount, -1);
  AdvanceHead(OldestTaken());
  return true;
}

// Whether a frame of `length` at `at` can be right: at most the largest
// payload, and not running past the ring's end. The length is checked
// first, so FrameSize cannot overflow.
bool FrameRing::FrameFits(uint32_t at, uint32_t length) const {
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
uint32_t FrameRing::PublishFrame(uint32_t at, uint32_t length, uint32_t tag) {
  uint32_t size = FrameSize(length);
  StoreRelease(reinterpret_cast<int32_t*>(data_ + ((at + size) & mask_) + 4), 0);
  std::memcpy(data_ + at, &length, 4);
  StoreRelease(reinterpret_cast<int32_t*>(data_ + at + 4), tag);
  uint32_t tail = Load(words_ + kTail) + size;
  Store(words_ + kTail, tail);
  tail_written_ = tail;
  tail_known_ = true;
  return tail;
}

// TAIL in *tail, moved first past a frame published at it whose writer
// died between storing its tag word and TAIL (readers may have taken it
// already). A header there that cannot be right is written over. A TAIL
// that no frame can start at is corruption: checked before any use, since
// a frame from there could run past the ring.
RingStatus FrameRing::CatchUpTail(uint32_t* caught_up) {
  uint32_t tail = Load(words_ + kTail);
  for (;;) {
    if ((tail & 7) != 0) return Corrupt("a tail that no frame starts at");
    uint32_t at = tail & mask_;
    uint32_t tag = TagAt(at);
    if ((tag & kPublished) == 0) break;
    uint32_t length;
    std::memcpy(&length, data_ + at, 4);
    if (!FrameFits(at, length)) break;
    uint32_t next = tail + FrameSize(length);
    if (next - Load(words_ + kHead) > capacity_) break;
    if (CompareExchange(words_ + kTail, tail, next)) {
      tail_known_ = false;
      if (queue_ && tag != kPadding) Add(words_ + kCount, 1);
    }
    tail = Load(words_ + kTail);
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
RingStatus FrameRing::PublishedPast(uint32_t position) {
  uint32_t tail = Load(words_ + kTail);
  if (TagAt(position & mask_) != 0 || Load(words_ + read_word_) != position) return RingStatus::kOk;
  if (tail == position) return queue_ ? EmptyCounted(tail) : RingStatus::kEmpty;
  if ((tail & 7) != 0) return Corrupt("a tail that no frame starts at");
  if (tail - position <= capacity_) return Corrupt("frames published behind an empty header");
  if (position - tail > capacity_) return Corrupt("a read position more than a ring away from tail");
  if ((TagAt(tail & mask_) & kPublished) == 0 && Load(words_ + kTail) == tail) {
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
RingStatus FrameRing::EmptyCounted(uint32_t tail) {
  auto count = static_cast<int32_t>(Load(words_ + kCount));
  if ((count > 0 || count < -1) && Load(words_ + kTail) == tail) {
    return Corrupt("a message count of " + std::to_string(count) + " with no message published");
  }
  return RingStatus::kEmpty;
}

// Another program wrote the ring so that `what` cannot be right: drops
// everything published, so the ring works again, and says so in
// corruption(). Found by a reader or by a writer, whichever comes first.
RingStatus FrameRing::Corrupt(const std::string& what) {
  uint32_t tail = Load(words_ + kTail);
  uint32_t dropped = tail - Load(words_ + read_word_);
  DropAll(tail);
  corruption_ = "corrupt ring: " + what + "; the " +
                (dropped <= capacity_ ? std::to_string(dropped) + " bytes" : std::string("bytes")) +
                " published were dropped";
  return RingStatus::kCorrupt;
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
RingStatus FrameRing::Room(uint32_t tail, uint32_t need) {
  uint32_t free = capacity_ - (tail - cached_head_);
  // Only while no other writer moved TAIL (a Queue's producers take turns) is the cache within one ring of it.
  if (free < need || free > capacity_ || !tail_known_ || tail != tail_written_) {
    uint32_t head = Load(words_ + kHead);
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
bool FrameRing::WrapEarly(uint32_t tail, uint32_t at) {
  if (at < kHotBytes || capacity_ < 4 * kHotBytes) {
    asked_this_lap_ = false;
    return false;
  }
  if (asked_this_lap_) return false;
  asked_this_lap_ = true;
  uint32_t head = Load(words_ + kHead);
  cached_head_ = head;
  return head == tail;
}

// Remembers HEAD as a writer that found no room saw it: what it waits to see move.
RingStatus FrameRing::NoRoom() {
  head_when_full_ = Load(words_ + kHead);
  return RingStatus::kNoRoom;
}

// A frame (or padding) at `position` has been taken, not held: past it
// go HEAD (a Pipe: one store) or CURSOR, and HEAD too unless a Queue's
// consumer holds an older frame (whose release moves HEAD then).
void FrameRing::Taken(uint32_t position, uint32_t bytes, bool message) {
  uint32_t next = position + bytes;
  if (!queue_) {
    Store(words_ + kHead, next);
    WakeIfFlagged(words_, kWritersWaiting, kHead);
    return;
  }
  Store(words_ + kCursor, next);
  if (message) Add(words_ + kCount, -1);
  HeadFollows(next);
}

// After a Queue's CURSOR moved to `cursor`: HEAD moves up to it, or to the
// oldest frame still held. CURSOR is stored before HELD_COUNT is read, as
// Unhold does the reverse: of a release and a take at once, at least one
// sees the other. With entries in use HEAD still moves up to the oldest,
// so a count that another program wrote wrong costs a scan per take,
// never a ring whose room stops coming back.
void FrameRing::HeadFollows(uint32_t cursor) { AdvanceHead(Load(words_ + kHeldCount) == 0 ? cursor : OldestTaken()); }

// Moves HEAD forward to `target` unless it is there or past it already.
void FrameRing::AdvanceHead(uint32_t target) {
  uint32_t head = Load(words_ + kHead);
  while (target - head - 1 < capacity_) {  // 0 < target - head <= capacity
    if (CompareExchangeSeen(words_ + kHead, &head, target)) {
      WakeIfFlagged(words_, kWritersWaiting, kHead);
      return;
    }
  }
}

// Where a Queue's HEAD may go: the oldest frame still held, else CURSOR.
// CURSOR is read first: a frame taken after that is entered in the table
// before CURSOR passes it, so the scan below sees it.
uint32_t FrameRing::OldestTaken() const {
  uint32_t cursor = Load(words_ + kCursor);
  uint32_t head = Load(words_ + kHead);
  uint32_t oldest = cursor;
  for (int entry = 0; entry < kHolders; entry++) {
    if (Load(words_ + kHolderToken + entry) == 0) continue;
    uint32_t position = Load(words_ + kHolderPosition + entry);
    // Only a frame start between HEAD and CURSOR holds HEAD back (another program may have written any position).
    if ((position & 7) == 0 && position - head < oldest - head) oldest = position;
  }
  return oldest;
}

// The writer takes its own padding frame from `padding` to `end` if
// everything before it was taken (true), so that no reader must. A Pipe's
// reader has also freed everything then (HEAD is at the padding). A
// Queue's writer moves CURSOR past it, then HEAD as a consumer's take
// would: a consumer that took the frame before the padding may not have
// moved HEAD yet, and once CURSOR is past the padding no consumer would
// move it past the padding.
bool FrameRing::SkipOwnPadding(uint32_t padding, uint32_t end) {
  if (!queue_) return CompareExchange(words_ + kHead, padding, end);
  if (!CompareExchange(words_ + kCursor, padding, end)) return false;
  HeadFollows(end);
  return true;
}

// Everything published is dropped (a corrupt ring): every position to
// `tail` rounded down to a frame's start, its header emptied (TAIL may
// have been moved into a frame, where no header is), no message counted,
// no frame held (a view held now is released as a no-op). TAIL and the
// header change by compare-and-swap from what was read, so a writer that
// moved on meanwhile keeps its frame: readers find it at the new read
// position. A writer or reader racing this with a stale word finds the
// ring inconsistent once more, and resets it again.
void FrameRing::DropAll(uint32_t tail) {
  uint32_t start = tail & ~7u;
  auto* header = reinterpret_cast<int32_t*>(data_ + (start & mask_) + 4);
  uint32_t tag = Load(header);
  if (tag != 0) CompareExchange(header, tag, 0);
  if (start != tail) CompareExchange(words_ + kTail, tail, start);
  tail_known_ = false;
  if (queue_) {
    for (int entry = 0; entry < kHolders; entry++) Store(words_ + kHolderToken + entry, 0);
    Store(words_ + kHeldCount, 0);
    Store(words_ + kCursor, start);
    Store(words_ + kCount, 0);
  }
  Store(words_ + kHead, start);
  WakeIfFlagged(words_, kWritersWaiting, kHead);
}

}  // namespace shmkit

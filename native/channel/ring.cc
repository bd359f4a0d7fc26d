#include "channel/ring.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <string>

#include "core/bindings.h"
#include "core/env_state.h"
#include "core/errors.h"
#include "core/handle.h"
#include "core/layout.h"
#include "sys/futex.h"
#include "sys/shm.h"
#include "wait/spinner.h"
#include "wait/wait.h"

namespace shmkit {

namespace {

using namespace layout;  // the ring's words, frame words, tags and out words (layout.h)

// A writer past this many bytes of the ring that finds it empty wraps at
// once (Ring::WrapEarly), in a ring of at least four times as many.
constexpr uint32_t kHotBytes = 64 * 1024;
// Readers find frames by a frame header's second word (kPublished | tag, or
// kPadding; 0 where nothing is published), not by TAIL (docs/format.md,
// "Frames"), and the header where the next frame goes is always 0: a writer
// zeroes it before it publishes, so every frame keeps one header's room free
// after it.

uint32_t FrameSize(uint32_t payload) { return kFrameHeader + ((payload + 7) & ~7u); }

// The room a frame needs: itself, and the header after it that stays 0.
uint32_t RoomFor(uint32_t payload) { return FrameSize(payload) + kFrameHeader; }

// The control words are read and written by other processes, and by JS
// Atomics in this one: sequentially consistent, as Atomics are, since a
// waiter stores its flag then loads the word while a waker stores the word
// then loads the flag.
uint32_t Load(const int32_t* word) { return static_cast<uint32_t>(__atomic_load_n(word, __ATOMIC_SEQ_CST)); }
void Store(int32_t* word, uint32_t value) { __atomic_store_n(word, static_cast<int32_t>(value), __ATOMIC_SEQ_CST); }
void StoreRelease(int32_t* word, uint32_t value) {
  __atomic_store_n(word, static_cast<int32_t>(value), __ATOMIC_RELEASE);
}
bool CompareExchange(int32_t* word, uint32_t expected, uint32_t desired) {
  auto value = static_cast<int32_t>(expected);
  return __atomic_compare_exchange_n(word, &value, static_cast<int32_t>(desired), false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST);
}

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

// The oldest published frame not yet taken, as found by Oldest().
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
class Ring {
 public:
  Ring(Mapping* mapping, size_t offset, uint32_t capacity, int32_t* out)
      : mapping_(mapping),
        words_(reinterpret_cast<int32_t*>(static_cast<char*>(mapping->addr) + offset)),
        data_(reinterpret_cast<uint8_t*>(words_) + kRingControlBytes),
        capacity_(capacity),
        mask_(capacity - 1),
        queue_(Load(words_ + kCounted) == 1),
        read_word_(queue_ ? kCursor : kHead),
        maxsize_(static_cast<int32_t>(Load(words_ + kMaxsize))),
        out_(out) {}

  Mapping* mapping() const { return mapping_; }
  bool queue() const { return queue_; }
  uint32_t capacity() const { return capacity_; }
  uint8_t* data() const { return data_; }
  int32_t* out() const { return out_; }
  int32_t* words() const { return words_; }
  std::string& scratch() { return scratch_; }

  // Room for a frame of `payload` bytes at the tail, contiguous (a padding
  // frame to the ring's end is published first when the frame would run
  // past it). The frame's offset, or -1 if there is no room now. Words that
  // cannot be right (another program wrote them) reset the ring and throw
  // ERR_SHM_FORMAT (Corrupt): a writer never goes on publishing where no
  // reader looks.
  int64_t Reserve(Napi::Env env, uint32_t payload) {
    uint32_t need = RoomFor(payload);
    // TAIL first: a frame it catches up with is counted before COUNT is compared.
    uint32_t tail = CatchUpTail(env);
    if (maxsize_ > 0) {
      auto count = static_cast<int32_t>(Load(words_ + kCount));
      if (count > maxsize_) Corrupt(env, "a message count over maxsize");
      if (count == maxsize_) return NoRoom();
    }
    uint32_t at = tail & mask_;
    uint32_t to_end = capacity_ - at;
    if (FrameSize(payload) > to_end || WrapEarly(tail, at)) {
      if (Free(env, tail, to_end + kFrameHeader) < to_end + kFrameHeader) return NoRoom();
      uint32_t padding = tail;
      tail = PublishFrame(at, to_end - kFrameHeader, kPadding);
      // If everything before the padding was read, skip it here, so that a
      // message over half the ring fits an empty ring with no reader's help;
      // else a reader frees it: wake one that sleeps.
      if (!SkipOwnPadding(padding, tail)) WakeIfFlagged(words_, kReadersWaiting, kTail);
      at = 0;
    }
    return Free(env, tail, need) < need ? NoRoom() : at;
  }

  // Publishes the frame reserved at `at`, its payload written.
  void Publish(uint32_t at, uint32_t payload, uint32_t tag) {
    PublishFrame(at, payload, tag | kPublished);
    if (queue_) __atomic_add_fetch(words_ + kCount, 1, __ATOMIC_SEQ_CST);
    WakeIfFlagged(words_, kReadersWaiting, kTail);
  }

  // The oldest frame not yet taken (at HEAD, or a Queue's CURSOR), checked
  // against what is published; false if there is none. Positions or a
  // header that cannot be right (another program wrote them) drop
  // everything published, so the ring works again, and throw
  // ERR_SHM_FORMAT. Padding frames are taken on the way.
  bool Oldest(Napi::Env env, Frame* frame) {
    for (;;) {
      uint32_t position = Load(words_ + read_word_);
      if ((position & 7) != 0) Corrupt(env, "a read position that no frame starts at");
      if (queue_ && !CursorAfterHead(position)) Corrupt(env, "a cursor behind head, or more than a ring ahead of it");
      uint32_t at = position & mask_;
      uint32_t tag = TagAt(at);
      if (tag == 0) {
        if (!PublishedPast(env, position)) return false;
        continue;  // published meanwhile
      }
      uint32_t length;
      std::memcpy(&length, data_ + at, 4);
      // A writer that skipped a padding frame here may already be writing over it: read again.
      if (Load(words_ + read_word_) != position) continue;
      bool padding = tag == kPadding;
      uint64_t end = static_cast<uint64_t>(at) + FrameSize(length);
      if ((tag & kPublished) == 0 || !FrameFits(at, length) || (padding && end != capacity_)) {
        Corrupt(env, "a " + std::to_string(length) + "-byte frame");
      }
      if (!padding) {
        *frame = Frame{position, at, length, tag & ~kPublished};
        return true;
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
  bool CursorAfterHead(uint32_t cursor) const {
    return cursor - Load(words_ + kHead) <= capacity_ || Load(words_ + kCursor) != cursor;
  }

  // A frame is published that no reader has taken yet (a padding frame
  // counts): its header says so, which a reader's cache already holds when
  // the frame's line came across (TAIL would be a second line to fetch).
  bool HasData() const { return TagAt(Load(words_ + read_word_) & mask_) != 0; }

  // Spins while the ring is empty, for about `ms`: true if a frame was published.
  bool SpinWhileEmpty(double ms) {
    auto* tag = reinterpret_cast<int32_t*>(data_ + (Load(words_ + read_word_) & mask_) + 4);
    return SpinWhileEqual(tag, 0, ms);
  }

  // Frees a frame that has been read (copied out, or a Pipe's view released).
  void Release(const Frame& frame) { Taken(frame.position, FrameSize(frame.length), true); }

  // A Queue's view: takes the oldest frame for the consumer `token` and
  // enters it in the holder table. The entry's index, -1 if there is no
  // frame, -2 if every entry is in use (the frame stays). The caller holds
  // the get lock, so no other consumer enters frames meanwhile.
  int Hold(Napi::Env env, uint32_t token, Frame* frame) {
    if (!Oldest(env, frame)) return -1;
    int entry = 0;
    while (entry < kHolders && Load(words_ + kHolderToken + entry) != 0) entry++;
    if (entry == kHolders) return -2;
    // Entered before CURSOR passes it: a release that reads CURSOR first
    // and then the table sees the frame in one or the other.
    Store(words_ + kHolderPosition + entry, frame->position);
    __atomic_add_fetch(words_ + kHeldCount, 1, __ATOMIC_SEQ_CST);
    Store(words_ + kHolderToken + entry, token);
    Store(words_ + kCursor, frame->position + FrameSize(frame->length));
    __atomic_sub_fetch(words_ + kCount, 1, __ATOMIC_SEQ_CST);
    return entry;
  }

  // Takes over entry `entry` from `dead` (a consumer that died holding it)
  // for `token`, with its frame in `frame`; false if the entry is no longer
  // `dead`'s. A frame that cannot be right is freed, and ERR_SHM_FORMAT.
  bool Adopt(Napi::Env env, int entry, uint32_t dead, uint32_t token, Frame* frame) {
    if (!CompareExchange(words_ + kHolderToken + entry, dead, token)) return false;
    uint32_t position = Load(words_ + kHolderPosition + entry);
    uint32_t at = position & mask_;
    uint32_t length, tag;
    std::memcpy(&length, data_ + at, 4);
    std::memcpy(&tag, data_ + at + 4, 4);
    uint32_t taken = Load(words_ + kCursor) - position;
    if ((position & 7) != 0 || tag == kPadding || (tag & kPublished) == 0 || !FrameFits(at, length) ||
        taken > capacity_ || FrameSize(length) > taken) {
      Unhold(entry, token);
      throw CodeError(env, "ERR_SHM_FORMAT", "corrupt ring: a held frame that cannot be right was dropped");
    }
    *frame = Frame{position, at, length, tag & ~kPublished};
    return true;
  }

  // Ends `token`'s hold of entry `entry` and lets HEAD move up to the next
  // frame still held; false if the entry is not `token`'s (it was dropped).
  bool Unhold(int entry, uint32_t token) {
    if (!CompareExchange(words_ + kHolderToken + entry, token, 0)) return false;
    __atomic_sub_fetch(words_ + kHeldCount, 1, __ATOMIC_SEQ_CST);
    AdvanceHead(OldestTaken());
    return true;
  }

 private:
  uint32_t TagAt(uint32_t at) const { return Load(reinterpret_cast<int32_t*>(data_ + at + 4)); }

  // Whether a frame of `length` at `at` can be right: at most the largest
  // payload (a frame's header and the empty header after it take the rest
  // of the ring), and not running past the ring's end. The length is
  // checked first, so FrameSize cannot overflow.
  bool FrameFits(uint32_t at, uint32_t length) const {
    return length <= capacity_ - 2 * kFrameHeader && at + FrameSize(length) <= capacity_;
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
  uint32_t PublishFrame(uint32_t at, uint32_t length, uint32_t tag) {
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

  // TAIL, moved first past a frame published at it whose writer died
  // between storing its tag word and TAIL (readers may have taken it
  // already). A header there that cannot be right is written over. A TAIL
  // that no frame can start at is corruption: checked before any use, since
  // a frame from there could run past the ring.
  uint32_t CatchUpTail(Napi::Env env) {
    uint32_t tail = Load(words_ + kTail);
    for (;;) {
      if ((tail & 7) != 0) Corrupt(env, "a tail that no frame starts at");
      uint32_t at = tail & mask_;
      uint32_t tag = TagAt(at);
      if ((tag & kPublished) == 0) return tail;
      uint32_t length;
      std::memcpy(&length, data_ + at, 4);
      if (!FrameFits(at, length)) return tail;
      uint32_t next = tail + FrameSize(length);
      if (next - Load(words_ + kHead) > capacity_) return tail;
      if (CompareExchange(words_ + kTail, tail, next)) {
        tail_known_ = false;
        if (queue_ && tag != kPadding) __atomic_add_fetch(words_ + kCount, 1, __ATOMIC_SEQ_CST);
      }
      tail = Load(words_ + kTail);
    }
  }

  // With the header at `position` empty: false if nothing is published
  // there, true if it was published meanwhile, or if the read position is
  // no longer `position` (look again). The second: a writer that skipped
  // its own padding frame at `position` moved the read position past it,
  // and may since have published up to it again, zeroing its header (the
  // writer moves the read position before TAIL, which is read first here,
  // so a TAIL that far on means the move is seen). Another program wrote the
  // ring (Corrupt) if TAIL is past it (a writer stores the tag word first,
  // and TAIL is read before the header again), or if it is past TAIL while
  // nothing is being published at TAIL: a reader is ahead of TAIL only
  // after taking a frame whose writer has stored its tag word but not yet
  // TAIL (or died in between), and that frame's tag word is at TAIL. The
  // second check is what catches a frame length written wrong but within
  // the ring: reading it took the reader past everything published.
  bool PublishedPast(Napi::Env env, uint32_t position) {
    uint32_t tail = Load(words_ + kTail);
    if (TagAt(position & mask_) != 0 || Load(words_ + read_word_) != position) return true;
    if (tail == position) {
      if (queue_) EmptyCounted(env, tail);
      return false;
    }
    if ((tail & 7) != 0) Corrupt(env, "a tail that no frame starts at");
    if (tail - position <= capacity_) Corrupt(env, "frames published behind an empty header");
    if (position - tail > capacity_) Corrupt(env, "a read position more than a ring away from tail");
    if ((TagAt(tail & mask_) & kPublished) == 0 && Load(words_ + kTail) == tail) {
      Corrupt(env, "a read position past everything published");
    }
    return false;
  }

  // With nothing to take (TAIL at CURSOR), a Queue's COUNT is 0, or -1
  // while a writer is between storing TAIL and adding its message to COUNT
  // (a consumer may have taken the message off already). Another value is
  // another program's: a bounded queue would refuse messages for one above,
  // for good, and take more than its maxsize for one below. COUNT is read
  // after TAIL, so a message published meanwhile has moved TAIL: read again.
  void EmptyCounted(Napi::Env env, uint32_t tail) {
    auto count = static_cast<int32_t>(Load(words_ + kCount));
    if ((count > 0 || count < -1) && Load(words_ + kTail) == tail) {
      Corrupt(env, "a message count of " + std::to_string(count) + " with no message published");
    }
  }

  // Another program wrote the ring so that `what` cannot be right: drops
  // everything published, so the ring works again, and throws ERR_SHM_FORMAT.
  // Found by a reader or by a writer, whichever comes first.
  [[noreturn]] void Corrupt(Napi::Env env, const std::string& what) {
    uint32_t tail = Load(words_ + kTail);
    uint32_t dropped = tail - Load(words_ + read_word_);
    DropAll(tail);
    std::string message = "corrupt ring: " + what + "; the " +
                          (dropped <= capacity_ ? std::to_string(dropped) + " bytes" : std::string("bytes")) +
                          " published were dropped";
    throw CodeError(env, "ERR_SHM_FORMAT", message.c_str());
  }

  // Bytes free ahead of `tail`, at least `need` if there are. Counted from
  // HEAD as this writer last read it, which is never ahead of the real one,
  // and read again only when that is too little: a writer does not pull the
  // reader's cache line on every message. HEAD is never past TAIL here (a
  // reader past it took a frame whose TAIL CatchUpTail has stored since),
  // nor more than a ring behind it: if the HEAD read now is, another
  // program wrote one of them (a free count over the capacity). And what
  // is between them was published, so a ring without room that is not
  // empty has a frame at HEAD: tags stay until written over, and the
  // writer writes only ahead of TAIL. Without one, TAIL was moved ahead (a
  // ring would look full to its writers for good while its reader has
  // nothing to read).
  uint32_t Free(Napi::Env env, uint32_t tail, uint32_t need) {
    uint32_t free = capacity_ - (tail - cached_head_);
    // Only while no other writer moved TAIL (a Queue's producers take turns) is the cache within one ring of it.
    if (free < need || free > capacity_ || !tail_known_ || tail != tail_written_) {
      uint32_t head = Load(words_ + kHead);
      cached_head_ = head;
      free = capacity_ - (tail - head);
      if (free > capacity_) Corrupt(env, "a tail more than a ring away from head");
      if (free < need && head != tail && ((head & 7) != 0 || TagAt(head & mask_) == 0)) {
        Corrupt(env, "no frame at head of a full ring");
      }
    }
    return free;
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
  bool WrapEarly(uint32_t tail, uint32_t at) {
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
  int64_t NoRoom() {
    out_[kOutHeadWhenFull] = static_cast<int32_t>(Load(words_ + kHead));
    return -1;
  }

  // A frame (or padding) at `position` has been taken, not held: past it
  // go HEAD (a Pipe: one store) or CURSOR, and HEAD too unless a Queue's
  // consumer holds an older frame (whose release moves HEAD then).
  void Taken(uint32_t position, uint32_t bytes, bool message) {
    uint32_t next = position + bytes;
    if (!queue_) {
      Store(words_ + kHead, next);
      WakeIfFlagged(words_, kWritersWaiting, kHead);
      return;
    }
    Store(words_ + kCursor, next);
    if (message) __atomic_sub_fetch(words_ + kCount, 1, __ATOMIC_SEQ_CST);
    HeadFollows(next);
  }

  // After a Queue's CURSOR moved to `cursor`: HEAD moves up to it, or to the
  // oldest frame still held. CURSOR is stored before HELD_COUNT is read, as
  // Unhold does the reverse: of a release and a take at once, at least one
  // sees the other. With entries in use HEAD still moves up to the oldest,
  // so a count that another program wrote wrong costs a scan per take,
  // never a ring whose room stops coming back.
  void HeadFollows(uint32_t cursor) { AdvanceHead(Load(words_ + kHeldCount) == 0 ? cursor : OldestTaken()); }

  // Moves HEAD forward to `target` unless it is there or past it already.
  void AdvanceHead(uint32_t target) {
    uint32_t head = Load(words_ + kHead);
    while (target - head - 1 < capacity_) {  // 0 < target - head <= capacity
      int32_t expected = static_cast<int32_t>(head);
      if (__atomic_compare_exchange_n(words_ + kHead, &expected, static_cast<int32_t>(target), false, __ATOMIC_SEQ_CST,
                                      __ATOMIC_SEQ_CST)) {
        WakeIfFlagged(words_, kWritersWaiting, kHead);
        return;
      }
      head = static_cast<uint32_t>(expected);
    }
  }

  // Where a Queue's HEAD may go: the oldest frame still held, else CURSOR.
  // CURSOR is read first: a frame taken after that is entered in the table
  // before CURSOR passes it, so the scan below sees it.
  uint32_t OldestTaken() {
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
  bool SkipOwnPadding(uint32_t padding, uint32_t end) {
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
  void DropAll(uint32_t tail) {
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

  Mapping* mapping_;
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
  int32_t* out_;
  uint32_t cached_head_ = 0;
  uint32_t tail_written_ = 0;
  bool tail_known_ = false;
  bool asked_this_lap_ = false;  // WrapEarly was asked in this lap of the ring
  std::string scratch_;          // a string whose NUL would not fit its frame is written here first
};

}  // namespace

// Owns a Ring and a reference to its mapping's bookkeeping (its handle keeps
// the out array alive).
struct RingHandle {
  static constexpr napi_type_tag kTypeTag = {0x2f9d6b3a81c4e570, 0x95a0e7c3d41b6f28};
  static constexpr const char* kHandleName = "ring handle";
  Ring ring;
};

namespace {

void ReleaseRing(RingHandle* handle) {
  handle->ring.mapping()->Unref();
  delete handle;
}

// The ring behind argument 0, or a throw if its segment was closed (lib/
// checks first; this is the last guard before touching unmapped memory).
Ring& RingOf(const Napi::CallbackInfo& info) {
  Ring& ring = Handle<RingHandle>::From(info[0])->ring;
  if (ring.mapping()->unmapped) throw CodeError(info.Env(), "ERR_SHM_CLOSED", "the channel is closed");
  return ring;
}

uint32_t U32(const Napi::Value& value) { return value.As<Napi::Number>().Uint32Value(); }

// A payload length from lib/, which checked that it fits: checked again, so
// that no argument can make a frame run past the ring.
uint32_t PayloadLength(Napi::Env env, const Ring& ring, double length) {
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
  if (capacity < 64 || (capacity & (capacity - 1)) != 0 || mapping->length - offset - kRingControlBytes < capacity) {
    throw CodeError(env, "ERR_SHM_FORMAT", "the ring's capacity does not fit its segment");
  }
  mapping->refs.fetch_add(1);  // ReleaseRing gives it back
  auto* handle = new RingHandle{Ring(mapping, offset, capacity, out.Data())};
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
int WriteStringFrame(napi_env env, Ring& ring, napi_value text) {
  size_t units = 0, bytes = 0;
  if (napi_get_value_string_utf16(env, text, nullptr, 0, &units) != napi_ok ||
      napi_get_value_string_utf8(env, text, nullptr, 0, &bytes) != napi_ok) {
    return -2;
  }
  if (bytes > ring.capacity() - kFrameHeader) return -1;
  auto byte_length = static_cast<uint32_t>(bytes);
  bool ascii = bytes == units;
  int64_t at = ring.Reserve(env, byte_length);
  if (at < 0) return 0;
  WriteString(env, text, ascii, ring.data() + at + kFrameHeader, byte_length, ring.scratch());
  ring.Publish(static_cast<uint32_t>(at), byte_length, ascii ? kTagAscii : kTagString);
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
bool WriteBytesFrame(Napi::Env env, Ring& ring, const void* data, size_t length, uint32_t tag) {
  if (length > ring.capacity() - 2 * kFrameHeader) return false;
  auto byte_length = static_cast<uint32_t>(length);
  int64_t at = ring.Reserve(env, byte_length);
  if (at < 0) return false;
  if (byte_length > 0) std::memcpy(ring.data() + at + kFrameHeader, data, byte_length);
  ring.Publish(static_cast<uint32_t>(at), byte_length, tag);
  return true;
}

// Writes `message` now if the addon sends its kind as it is: a string, a
// Buffer or a typed array; with `tag` (lib/ encoded it), `message` is a
// Uint8Array of bytes written with that tag. True if written.
bool WriteMessageNow(Napi::Env env, Ring& ring, napi_value message, int tag) {
  napi_valuetype type;
  if (napi_typeof(env, message, &type) != napi_ok) return false;
  if (type == napi_string) return WriteStringFrame(env, ring, message) == 1;
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
  return WriteBytesFrame(env, ring, data, length, static_cast<uint32_t>(tag));
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
  Ring& ring = RingOf(info);
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  uint32_t length = PayloadLength(info.Env(), ring, static_cast<double>(bytes.ByteLength()));
  int64_t at = ring.Reserve(info.Env(), length);
  if (at < 0) return Napi::Boolean::New(info.Env(), false);
  if (length > 0) std::memcpy(ring.data() + at + kFrameHeader, bytes.Data(), length);
  ring.Publish(static_cast<uint32_t>(at), length, U32(info[2]));
  return Napi::Boolean::New(info.Env(), true);
}

// ringReserve(ring, payloadBytes) -> the frame's offset in the ring, or -1.
Napi::Value RingReserve(const Napi::CallbackInfo& info) {
  Ring& ring = RingOf(info);
  uint32_t length = PayloadLength(info.Env(), ring, info[1].As<Napi::Number>().DoubleValue());
  return Napi::Number::New(info.Env(), static_cast<double>(ring.Reserve(info.Env(), length)));
}

// ringPublish(ring, at, payloadBytes, tag): `at` from ringReserve, with at
// most as many bytes as were reserved there.
Napi::Value RingPublish(const Napi::CallbackInfo& info) {
  Ring& ring = RingOf(info);
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
void ReportFrame(Ring& ring, const Frame& frame) {
  int32_t* out = ring.out();
  out[kOutPosition] = static_cast<int32_t>(frame.position);
  out[kOutStart] = static_cast<int32_t>(frame.at + kFrameHeader);
  out[kOutLength] = static_cast<int32_t>(frame.length);
  out[kOutTag] = static_cast<int32_t>(frame.tag);
}

// ringPeek(ring) -> true with the oldest frame in out, or false if there is
// none (a Pipe's view: ringRelease frees it).
Napi::Value RingPeek(const Napi::CallbackInfo& info) {
  Ring& ring = RingOf(info);
  Frame frame;
  if (!ring.Oldest(info.Env(), &frame)) return Napi::Boolean::New(info.Env(), false);
  ReportFrame(ring, frame);
  return Napi::Boolean::New(info.Env(), true);
}

// ringRelease(ring, position, length): frees the frame peeked at `position`.
Napi::Value RingRelease(const Napi::CallbackInfo& info) {
  Ring& ring = RingOf(info);
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
  Ring& ring = RingOf(info);
  if (!ring.queue()) throw CodeError(info.Env(), "ERR_SHM_INVALID_ARG", "only a Queue's ring holds frames");
  Frame frame;
  int entry = ring.Hold(info.Env(), U32(info[1]), &frame);
  if (entry >= 0) ReportFrame(ring, frame);
  return Napi::Number::New(info.Env(), entry);
}

// ringAdopt(ring, entry, deadToken, token) -> true with the entry's frame in
// out if it was deadToken's and is now token's. The caller holds the get lock.
Napi::Value RingAdopt(const Napi::CallbackInfo& info) {
  Ring& ring = RingOf(info);
  Frame frame;
  bool adopted = ring.Adopt(info.Env(), EntryArg(info, 1), U32(info[2]), U32(info[3]), &frame);
  if (adopted) ReportFrame(ring, frame);
  return Napi::Boolean::New(info.Env(), adopted);
}

// ringUnhold(ring, entry, token) -> false if the entry was no longer token's.
Napi::Value RingUnhold(const Napi::CallbackInfo& info) {
  Ring& ring = RingOf(info);
  return Napi::Boolean::New(info.Env(), ring.Unhold(EntryArg(info, 1), U32(info[2])));
}

Napi::Value ReadMessage(Napi::Env env, Ring& ring, double spin_ms);

// A typed array, ArrayBuffer or DataView message made here from its frame,
// as lib/channel/codec.ts decode makes it (a copy in memory of its own);
// nullptr for the other kinds (lib/ decodes them), and for a typed array
// whose length is not a whole number of elements (lib/ reports it). A
// Buffer is left to lib/ too: Buffer.allocUnsafe takes it from Node's pool,
// where napi_create_buffer_copy allocates and sets its prototype each time
// (docs/design.md, "Messages").
napi_value BytesValue(napi_env env, Ring& ring, const Frame& frame) {
  const uint8_t* payload = ring.data() + frame.at + kFrameHeader;
  napi_value value = nullptr;
  bool typed = frame.tag >= kTagTypedBase && frame.tag <= kTagTypedBase + napi_biguint64_array;
  if (!typed && frame.tag != kTagArrayBuffer && frame.tag != kTagDataView) return nullptr;
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

// ringRead(ring, spinMs) -> the oldest message if it is a string (read and
// freed); undefined if the ring is empty, after spinning up to spinMs for a
// message (a blocking receive's first wait: when the peer answers within the
// spin, the receive is one call); else its length, with its tag in out, left
// in the ring for ringReadInto (lib/ decodes the other kinds). out gets how
// long the spin took by the clock (0 if there was none): a spin that caught
// its message but was preempted on the way took long, and the spinner must
// know (on an oversubscribed machine, spinning is what holds the peer up).
Napi::Value RingRead(const Napi::CallbackInfo& info) {
  return ReadMessage(info.Env(), RingOf(info), info[1].As<Napi::Number>().DoubleValue());
}

Napi::Value ReadMessage(Napi::Env env, Ring& ring, double spin_ms) {
  Frame frame;
  ring.out()[kOutSpunUs] = 0;
  if (!ring.Oldest(env, &frame)) {
    if (!(spin_ms > 0)) return env.Undefined();
    int64_t started = MonotonicNowNs();
    bool caught = ring.SpinWhileEmpty(spin_ms);
    ring.out()[kOutSpunUs] = static_cast<int32_t>(std::min<int64_t>((MonotonicNowNs() - started) / 1000, INT32_MAX));
    if (!caught || !ring.Oldest(env, &frame)) return env.Undefined();
  }
  if (frame.tag != kTagString && frame.tag != kTagAscii) {
    napi_value bytes = BytesValue(env, ring, frame);
    if (bytes != nullptr) {
      ring.Release(frame);
      return Napi::Value(env, bytes);
    }
    ReportFrame(ring, frame);
    return Napi::Number::New(env, frame.length);
  }
  const char* text = reinterpret_cast<const char*>(ring.data() + frame.at + kFrameHeader);
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
  Ring& ring = RingOf(info);
  Napi::Uint8Array target = info[1].As<Napi::Uint8Array>();
  bool bytes_only = info[2].ToBoolean();
  Frame frame;
  if (!ring.Oldest(env, &frame)) return Napi::Number::New(env, -1);
  if (bytes_only && (frame.tag == kTagString || frame.tag == kTagAscii || frame.tag == kTagSerialized)) {
    throw CodeError(env, "ERR_SHM_INVALID_ARG", "the next message is not bytes: receive it with recv()");
  }
  if (frame.length > target.ByteLength()) {
    std::string message = "the next message has " + std::to_string(frame.length) + " bytes; the target holds " +
                          std::to_string(target.ByteLength());
    throw CodeError(env, "ERR_SHM_INVALID_SIZE", message.c_str());
  }
  if (frame.length > 0) std::memcpy(target.Data(), ring.data() + frame.at + kFrameHeader, frame.length);
  ring.Release(frame);
  return Napi::Number::New(env, frame.length);
}

}  // namespace

RingHandle* RingHandleOf(const Napi::Value& value) { return Handle<RingHandle>::From(value); }

bool RingHasData(const RingHandle* handle) {
  const Ring& ring = handle->ring;
  return !ring.mapping()->unmapped && ring.HasData();
}

Napi::Value RingFirstRead(const Napi::CallbackInfo& info, RingHandle* handle, int32_t* spinner) {
  Napi::Env env = info.Env();
  Ring& ring = handle->ring;
  if (ring.mapping()->unmapped) {
    RingNoRead(handle);
    return env.Undefined();
  }
  double max_spin_ms = info.Length() > 1 ? info[1].As<Napi::Number>().DoubleValue() : HUGE_VAL;
  bool async = info.Length() > 2;
  Napi::Value read = ReadMessage(env, ring, std::min(SpinBudget(spinner, async && info[2].ToBoolean()), max_spin_ms));
  double spun_ms = ring.out()[kOutSpunUs] * 0.001;
  bool caught = !read.IsUndefined();
  if (!async) {
    if (caught) SpinWaited(spinner, spun_ms);
  } else if (spun_ms > 0) {
    SpinSpun(spinner, caught);
    if (caught) SpinWaited(spinner, spun_ms);
  }
  return read;
}

void RingNoRead(RingHandle* handle) { handle->ring.out()[kOutSpunUs] = -1; }

int32_t* RingControlWord(RingHandle* handle, int index) {
  Ring& ring = handle->ring;
  return ring.mapping()->unmapped ? nullptr : ring.words() + index;
}

bool RingHoldsViews(const RingHandle* handle) {
  const Ring& ring = handle->ring;
  return !ring.mapping()->unmapped && Load(ring.words() + kHeldCount) != 0;
}

bool RingWriteNow(const Napi::CallbackInfo& info, RingHandle* handle) {
  Ring& ring = handle->ring;
  int tag = info[2].As<Napi::Number>().Int32Value();
  return !ring.mapping()->unmapped && WriteMessageNow(info.Env(), ring, info[1], tag);
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

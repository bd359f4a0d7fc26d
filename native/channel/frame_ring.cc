#include "channel/frame_ring.h"

#include <cstring>

namespace shmkit {

using namespace layout;  // the ring's words, frame words and tags (layout.h)

FrameRing::FrameRing(int32_t* words, uint32_t capacity)
    : words_(words),
      data_(reinterpret_cast<uint8_t*>(words) + kRingControlBytes),
      capacity_(capacity),
      mask_(capacity - 1),
      queue_(Load(words + kCounted) == 1),
      read_word_(queue_ ? kCursor : kHead),
      maxsize_(static_cast<int32_t>(Load(words + kMaxsize))) {}

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
  WakeIfFlagged(kWritersWaiting, kHead);
}

}  // namespace shmkit

// A channel's ring (Queue, Pipe): the frame protocol of docs/format.md
// ("Queue and Pipe") over a ring's control words and data, in plain C++ (no
// N-API), so that it is tested on its own (test/native-protocol.test.ts).
// Every operation says what it found as a RingStatus; the bindings
// (ring.cc) turn that into JS values and ShmErrors.
#pragma once
#include <cstdint>
#include <string>

#include "core/atomics.h"
#include "core/layout.h"

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
  void Release(const Frame& frame) { Taken(frame.position, FrameSize(frame.length), true); }

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

}  // namespace shmkit

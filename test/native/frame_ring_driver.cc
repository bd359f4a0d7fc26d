// The frame protocol (native/channel/frame_ring.*) on its own: no node, no
// N-API. test/native-protocol.test.ts builds this with the system compiler
// (with -fsanitize=address,undefined where it can) and runs it:
//
//   frame_ring_driver model SEED STEPS    random operations on Pipe and Queue
//                                         rings, checked against a model
//   frame_ring_driver corrupt             words written wrong, one at a time:
//                                         each must be reported as kCorrupt,
//                                         and the ring must work after
//   frame_ring_driver threads MESSAGES    a writer thread and reader threads,
//                                         each with a handle of its own, as
//                                         processes are: every message comes
//                                         once, in order, intact
//   frame_ring_driver chaos SEED STEPS    random operations with random words
//                                         written wrong: no crash, no access
//                                         outside the ring, and the ring
//                                         works again once the writes stop
//
// It prints one line of counts and exits 0, or prints what went wrong (with
// the seed and step) and exits 1. A sanitizer finding aborts it.
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "channel/frame_ring.h"
#include "wait/notify.h"

using namespace shmkit;
using namespace shmkit::layout;

// The wait layer's wake and spin, as the protocol calls them: a wake is
// recorded (no one sleeps here: the threads of a threads run poll), and
// nothing spins.
namespace shmkit {
std::atomic<int> wakes{0};
std::atomic<int32_t*> woken_word{nullptr};
std::atomic<uint32_t> woken_flag{0};
int NotifyWord(int32_t* addr, int32_t, uint32_t flag) {
  wakes++;
  woken_word = addr;
  woken_flag = flag;
  return 0;
}
bool SpinWhileEqual(const int32_t* addr, int32_t expected, double) { return Load(addr) != uint32_t(expected); }
}  // namespace shmkit

namespace {

const char* where = "";  // the run, seed and step, for a failure's message

[[noreturn]] void Fail(const char* format, ...) {
  std::fprintf(stderr, "FAIL (%s): ", where);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fprintf(stderr, "\n");
  std::exit(1);
}

#define EXPECT(condition, ...)           \
  do {                                   \
    if (!(condition)) Fail(__VA_ARGS__); \
  } while (0)

const char* Name(RingStatus status) {
  switch (status) {
    case RingStatus::kOk:
      return "kOk";
    case RingStatus::kEmpty:
      return "kEmpty";
    case RingStatus::kNoRoom:
      return "kNoRoom";
    case RingStatus::kTooLarge:
      return "kTooLarge";
    case RingStatus::kHoldersFull:
      return "kHoldersFull";
    case RingStatus::kNotHeld:
      return "kNotHeld";
    case RingStatus::kCorrupt:
      return "kCorrupt";
  }
  return "?";
}

// A ring's memory as a segment holds it: its control words, then its data,
// allocated to the byte so that the sanitizer catches an access past it.
struct RingMemory {
  RingMemory(uint32_t capacity, bool queue, int32_t maxsize) : bytes(kRingControlBytes + capacity) {
    words = static_cast<int32_t*>(std::aligned_alloc(64, bytes));
    std::memset(words, 0, bytes);
    words[kCapacity] = static_cast<int32_t>(capacity);
    words[kMaxsize] = maxsize;
    words[kCounted] = queue ? 1 : 0;
  }
  ~RingMemory() { std::free(words); }
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;
  uint8_t* data() const { return reinterpret_cast<uint8_t*>(words) + kRingControlBytes; }
  size_t bytes;
  int32_t* words;
};

// The bytes of message `id`: each one says which message and which byte it is.
uint8_t ByteOf(uint32_t id, uint32_t index) { return static_cast<uint8_t>(id * 131 + index * 7 + (index >> 8)); }

struct Message {
  uint32_t id;
  uint32_t length;
  uint32_t tag;
};

struct Held {
  Message message;
  Frame frame;
  uint32_t token;
};

// The frame must lie in the ring (the payload's every byte is read, so the
// sanitizer sees an access past it).
uint32_t TouchFrame(const FrameRing& ring, const Frame& frame) {
  EXPECT(frame.at % 8 == 0 && uint64_t(frame.at) + FrameSize(frame.length) <= ring.capacity(),
         "a frame of %u bytes at %u runs past a %u-byte ring", frame.length, frame.at, ring.capacity());
  uint32_t sum = 0;
  const uint8_t* payload = ring.Payload(frame);
  for (uint32_t i = 0; i < frame.length; i++) sum += payload[i];
  return sum;
}

// The frame holds `message`, byte for byte.
void ExpectMessage(const FrameRing& ring, const Frame& frame, const Message& message, const char* what) {
  TouchFrame(ring, frame);
  EXPECT(frame.length == message.length && frame.tag == message.tag,
         "%s: frame of %u bytes tagged %u, expected message %u of %u bytes tagged %u", what, frame.length, frame.tag,
         message.id, message.length, message.tag);
  const uint8_t* payload = ring.Payload(frame);
  for (uint32_t i = 0; i < message.length; i++) {
    EXPECT(payload[i] == ByteOf(message.id, i), "%s: message %u byte %u is %u, not %u", what, message.id, i, payload[i],
           ByteOf(message.id, i));
  }
}

struct Counts {
  long written = 0, read = 0, no_room = 0, padding_waits = 0, held = 0, adopted = 0, corrupt = 0, recovered = 0;
};

// Random operations on one ring against a model of what it holds: every
// message comes out once, in order, intact (held ones too, while the writer
// goes on), COUNT and the wake flags are kept, and a status says what the
// model says.
class ModelRun {
 public:
  ModelRun(uint32_t capacity, bool queue, int32_t maxsize, uint32_t seed, Counts& counts)
      : memory_(capacity, queue, maxsize),
        ring_(memory_.words, capacity),
        queue_(queue),
        maxsize_(maxsize),
        random_(seed),
        counts_(counts) {}

  void Step() {
    uint32_t op = Below(100);
    if (op < 40)
      Write();
    else if (op < 48)
      ReserveAndPublishLess();
    else if (op < 50)
      ReserveOnly();
    else if (op < 80)
      Read();
    else if (op < 84)
      PeekTwice();
    else if (queue_ && op < 92)
      Hold();
    else if (queue_ && op < 97)
      Unhold();
    else if (queue_)
      Adopt();
    CheckWords();
  }

  // Takes every message and ends every hold: the ring is empty after.
  void Drain() {
    for (auto& [entry, held] : held_) {
      ExpectMessage(ring_, held.frame, held.message, "a held frame at the end");
      EXPECT(ring_.Unhold(entry, held.token), "Unhold of entry %d at the end failed", entry);
    }
    held_.clear();
    while (!unread_.empty()) Read();
    Frame frame;
    EXPECT(ring_.Oldest(&frame) == RingStatus::kEmpty, "a drained ring is not empty");
    CheckWords();
  }

 private:
  uint32_t Below(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(random_); }

  // Mostly small payloads, some up to the largest, a few too large.
  uint32_t PayloadLength() {
    uint32_t kind = Below(20);
    if (kind < 14) return Below(72);
    if (kind < 19) return Below(ring_.MaxPayload() + 1);
    return ring_.MaxPayload() + 1 + Below(16);
  }

  bool Empty() const { return unread_.empty() && held_.empty(); }

  void FillPayload(uint32_t at, const Message& message) {
    uint8_t* payload = ring_.PayloadAt(at);
    for (uint32_t i = 0; i < message.length; i++) payload[i] = ByteOf(message.id, i);
  }

  // Reserve, its status checked against the model; true if the frame may be written.
  bool Reserved(uint32_t length, uint32_t* at) {
    RingStatus status = ring_.Reserve(length, at);
    if (length > ring_.MaxPayload()) {
      EXPECT(status == RingStatus::kTooLarge, "Reserve of %u bytes (largest %u) is %s", length, ring_.MaxPayload(),
             Name(status));
      return false;
    }
    bool full = maxsize_ > 0 && unread_.size() >= static_cast<size_t>(maxsize_);
    if (full) {
      EXPECT(status == RingStatus::kNoRoom, "Reserve with %zu messages in a queue of maxsize %d is %s", unread_.size(),
             maxsize_, Name(status));
    } else if (Empty()) {
      if (status == RingStatus::kNoRoom) {
        // A padding frame that its writer could not skip (a message was
        // unread then) waits for a reader's next look, which takes it.
        Frame frame;
        EXPECT(ring_.Oldest(&frame) == RingStatus::kEmpty, "a ring with nothing unread has a frame");
        status = ring_.Reserve(length, at);
        counts_.padding_waits++;
      }
      EXPECT(status == RingStatus::kOk, "Reserve of %u bytes in an empty ring is %s", length, Name(status));
    } else {
      EXPECT(status == RingStatus::kOk || status == RingStatus::kNoRoom, "Reserve of %u bytes is %s", length,
             Name(status));
    }
    if (status == RingStatus::kNoRoom) {
      counts_.no_room++;
      EXPECT(ring_.head_when_full() == Load(memory_.words + kHead), "head_when_full() is not HEAD");
    }
    return status == RingStatus::kOk;
  }

  void Publish(uint32_t at, uint32_t length) {
    Message message{next_id_++, length, Below(kTagTypedBase + 11)};
    FillPayload(at, message);
    uint32_t flag = 1 + Below(1000);
    memory_.words[kReadersWaiting] = static_cast<int32_t>(flag);
    int before = wakes;
    ring_.Publish(at, length, message.tag);
    EXPECT(memory_.words[kReadersWaiting] == 0 && wakes == before + 1 && woken_word == memory_.words + kTail &&
               woken_flag == flag,
           "a publish did not clear the readers' flag and wake TAIL's sleepers");
    unread_.push_back(message);
    counts_.written++;
  }

  void Write() {
    uint32_t length = PayloadLength();
    uint32_t at = 0;
    if (Reserved(length, &at)) Publish(at, length);
  }

  // A slot's write: fewer bytes published than were reserved.
  void ReserveAndPublishLess() {
    uint32_t length = Below(ring_.MaxPayload() / 2 + 1);
    uint32_t at = 0;
    if (Reserved(length, &at)) Publish(at, Below(length + 1));
  }

  // A reservation given up (a slot dropped): nothing is published.
  void ReserveOnly() {
    uint32_t length = PayloadLength();
    uint32_t at = 0;
    Reserved(length, &at);
  }

  void Read() {
    Frame frame;
    RingStatus status = ring_.Oldest(&frame);
    if (unread_.empty()) {
      EXPECT(status == RingStatus::kEmpty, "Oldest with nothing unread is %s", Name(status));
      return;
    }
    EXPECT(status == RingStatus::kOk, "Oldest with %zu unread is %s", unread_.size(), Name(status));
    EXPECT(ring_.HasData(), "HasData() is false with a message unread");
    ExpectMessage(ring_, frame, unread_.front(), "a read");
    bool wakes_writers = !queue_ || held_.empty();
    uint32_t flag = 1 + Below(1000);
    memory_.words[kWritersWaiting] = static_cast<int32_t>(flag);
    int before = wakes;
    ring_.Release(frame);
    if (wakes_writers) {
      EXPECT(memory_.words[kWritersWaiting] == 0 && wakes == before + 1 && woken_word == memory_.words + kHead &&
                 woken_flag == flag,
             "a release did not clear the writers' flag and wake HEAD's sleepers");
    }
    memory_.words[kWritersWaiting] = 0;
    unread_.pop_front();
    counts_.read++;
  }

  // A Pipe's view: the oldest frame stays until it is released.
  void PeekTwice() {
    Frame first, second;
    RingStatus status = ring_.Oldest(&first);
    if (status != RingStatus::kOk) return;
    EXPECT(ring_.Oldest(&second) == RingStatus::kOk && second.position == first.position,
           "the oldest frame moved without a release");
    Read();
  }

  void Hold() {
    Frame frame;
    int entry = -1;
    uint32_t token = 1 + Below(0x3fffffff);
    RingStatus status = ring_.Hold(token, &frame, &entry);
    if (unread_.empty()) {
      EXPECT(status == RingStatus::kEmpty, "Hold with nothing unread is %s", Name(status));
      return;
    }
    if (held_.size() == static_cast<size_t>(kHolders)) {
      EXPECT(status == RingStatus::kHoldersFull, "Hold with every entry in use is %s", Name(status));
      return;
    }
    EXPECT(status == RingStatus::kOk && entry >= 0 && entry < kHolders && held_.count(entry) == 0,
           "Hold is %s, entry %d", Name(status), entry);
    ExpectMessage(ring_, frame, unread_.front(), "a hold");
    held_[entry] = Held{unread_.front(), frame, token};
    unread_.pop_front();
    counts_.held++;
  }

  std::map<int, Held>::iterator AnyHeld() {
    auto it = held_.begin();
    std::advance(it, Below(static_cast<uint32_t>(held_.size())));
    return it;
  }

  void Unhold() {
    if (held_.empty()) return;
    auto it = AnyHeld();
    Held& held = it->second;
    // Written over by no writer while held.
    ExpectMessage(ring_, held.frame, held.message, "a held frame");
    EXPECT(!ring_.Unhold(it->first, held.token + 1), "Unhold with another token succeeded");
    EXPECT(ring_.Unhold(it->first, held.token), "Unhold of entry %d failed", it->first);
    held_.erase(it);
  }

  // Another consumer takes over a held frame, as after its holder died.
  void Adopt() {
    if (held_.empty()) return;
    auto it = AnyHeld();
    Held& held = it->second;
    Frame frame;
    uint32_t token = held.token + 1 + Below(1000);
    EXPECT(ring_.Adopt(it->first, held.token + 1, token, &frame) == RingStatus::kNotHeld,
           "Adopt from a token that does not hold the entry was not kNotHeld");
    RingStatus status = ring_.Adopt(it->first, held.token, token, &frame);
    EXPECT(status == RingStatus::kOk, "Adopt of entry %d is %s", it->first, Name(status));
    EXPECT(frame.position == held.frame.position, "an adopted frame is not the one held");
    ExpectMessage(ring_, frame, held.message, "an adopted frame");
    held.token = token;
    counts_.adopted++;
  }

  // The words a single-threaded ring must have between operations.
  void CheckWords() {
    const int32_t* words = memory_.words;
    uint32_t tail = Load(words + kTail), head = Load(words + kHead);
    EXPECT(tail % 8 == 0 && head % 8 == 0 && tail - head <= ring_.capacity(), "TAIL %u and HEAD %u", tail, head);
    if (!unread_.empty()) EXPECT(ring_.HasData(), "HasData() is false with a message unread");
    if (!queue_) return;
    uint32_t cursor = Load(words + kCursor);
    EXPECT(cursor - head <= tail - head, "CURSOR %u is not between HEAD %u and TAIL %u", cursor, head, tail);
    EXPECT(Load(words + kCount) == unread_.size(), "COUNT %u with %zu unread", Load(words + kCount), unread_.size());
    EXPECT(Load(words + kHeldCount) == held_.size(), "HELD_COUNT %u with %zu held", Load(words + kHeldCount),
           held_.size());
    uint32_t oldest = cursor;  // the held frame furthest behind CURSOR, else CURSOR
    for (auto& [entry, held] : held_) {
      if (cursor - held.frame.position > cursor - oldest) oldest = held.frame.position;
    }
    EXPECT(head == oldest, "HEAD %u is not the oldest frame held or CURSOR (%u)", head, oldest);
  }

  RingMemory memory_;
  FrameRing ring_;
  bool queue_;
  int32_t maxsize_;
  std::mt19937 random_;
  Counts& counts_;
  std::deque<Message> unread_;
  std::map<int, Held> held_;
  uint32_t next_id_ = 1;
};

struct Config {
  uint32_t capacity;
  bool queue;
  int32_t maxsize;
};

// Pipes and Queues, small rings (every operation near a wrap) and one past
// the early wrap's kHotBytes (4 x 64 KiB), bounded and not.
const Config kConfigs[] = {
    {64, false, 0}, {256, false, 0}, {4096, false, 0}, {262144, false, 0}, {64, true, 0},
    {256, true, 0}, {1024, true, 3}, {4096, true, 40}, {262144, true, 0},
};

char where_buffer[160];

void SetWhere(const char* run, const Config& config, uint32_t seed, long step) {
  std::snprintf(where_buffer, sizeof where_buffer, "%s %s capacity %u maxsize %d seed %u step %ld", run,
                config.queue ? "queue" : "pipe", config.capacity, config.maxsize, seed, step);
  where = where_buffer;
}

int RunModel(uint32_t seed, long steps) {
  Counts counts;
  for (const Config& config : kConfigs) {
    ModelRun run(config.capacity, config.queue, config.maxsize, seed, counts);
    for (long step = 0; step < steps; step++) {
      SetWhere("model", config, seed, step);
      run.Step();
    }
    run.Drain();
  }
  std::printf("{\"written\":%ld,\"read\":%ld,\"noRoom\":%ld,\"paddingWaits\":%ld,\"held\":%ld,\"adopted\":%ld}\n",
              counts.written, counts.read, counts.no_room, counts.padding_waits, counts.held, counts.adopted);
  return 0;
}

// A write of `length` bytes: its status.
RingStatus WriteMessage(FrameRing& ring, uint32_t id, uint32_t length) {
  uint32_t at = 0;
  RingStatus status = ring.Reserve(length, &at);
  if (status != RingStatus::kOk) return status;
  uint8_t* payload = ring.PayloadAt(at);
  for (uint32_t i = 0; i < length; i++) payload[i] = ByteOf(id, i);
  ring.Publish(at, length, 1);
  return RingStatus::kOk;
}

// After a ring was found corrupt (or written wrong and not yet found):
// every message left is taken (any corrupt status on the way is one more
// reset), every hold ended as for a dead holder (adopted and released), and
// then a message must go through the ring intact, within a few tries.
// True if the ring works again; `corrupt` counts the kCorrupt statuses seen.
bool WorksAgain(FrameRing& ring, uint32_t id, long* corrupt) {
  for (int round = 0; round < 4; round++) {
    for (int entry = 0; ring.queue() && entry < kHolders; entry++) {
      uint32_t token = Load(ring.words() + kHolderToken + entry);
      if (token == 0) continue;
      Frame frame;
      RingStatus adopted = ring.Adopt(entry, token, 0x12345, &frame);
      if (adopted == RingStatus::kOk) {
        TouchFrame(ring, frame);
        ring.Unhold(entry, 0x12345);
      }
      if (adopted == RingStatus::kCorrupt) ++*corrupt;
    }
    for (int taken = 0;; taken++) {
      EXPECT(taken < 100000, "a ring that never empties");
      Frame frame;
      RingStatus status = ring.Oldest(&frame);
      if (status == RingStatus::kCorrupt) ++*corrupt;
      if (status != RingStatus::kOk) {
        if (status == RingStatus::kEmpty) break;
        continue;
      }
      TouchFrame(ring, frame);
      ring.Release(frame);
    }
    RingStatus written = WriteMessage(ring, id, 20);
    if (written == RingStatus::kCorrupt) ++*corrupt;
    if (written != RingStatus::kOk) continue;
    Frame frame;
    RingStatus status = ring.Oldest(&frame);
    if (status == RingStatus::kCorrupt) ++*corrupt;
    if (status != RingStatus::kOk) continue;
    ExpectMessage(ring, frame, Message{id, 20, 1}, "the message after a reset");
    ring.Release(frame);
    return true;
  }
  return false;
}

// One word written wrong: the operation `found` must say kCorrupt, with a
// message, and the ring must work after.
struct CorruptCase {
  const char* name;
  Config config;
  // Fills the ring as the case needs and writes the word wrong.
  void (*spoil)(FrameRing& ring, int32_t* words, uint8_t* data);
  // The operation that must find it.
  RingStatus (*found)(FrameRing& ring);
};

RingStatus ReserveSome(FrameRing& ring) {
  uint32_t at;
  return ring.Reserve(16, &at);
}
RingStatus ReserveMore(FrameRing& ring) {
  uint32_t at;
  return ring.Reserve(40, &at);
}
RingStatus OldestOne(FrameRing& ring) {
  Frame frame;
  return ring.Oldest(&frame);
}
// Reads what comes until a status other than kOk.
RingStatus ReadAll(FrameRing& ring) {
  for (int i = 0; i < 1000; i++) {
    Frame frame;
    RingStatus status = ring.Oldest(&frame);
    if (status != RingStatus::kOk) return status;
    TouchFrame(ring, frame);
    ring.Release(frame);
  }
  return RingStatus::kOk;
}
void WriteThree(FrameRing& ring) {
  for (uint32_t id = 1; id <= 3; id++) {
    if (WriteMessage(ring, id, 12) != RingStatus::kOk) Fail("a write to set a case up failed");
  }
}
// Fills the ring with 24-byte messages until one finds no room.
void Fill(FrameRing& ring) {
  for (uint32_t id = 1; WriteMessage(ring, id, 24) == RingStatus::kOk; id++) {
  }
}

const CorruptCase kCorruptCases[] = {
    {"TAIL where no frame starts (writer)",
     {256, false, 0},
     [](FrameRing& ring, int32_t* words, uint8_t*) {
       WriteThree(ring);
       words[kTail] += 3;
     },
     ReserveSome},
    {"TAIL where no frame starts (reader)",
     {256, false, 0},
     [](FrameRing&, int32_t* words, uint8_t*) { words[kTail] = 4; },
     OldestOne},
    {"HEAD where no frame starts",
     {256, false, 0},
     [](FrameRing& ring, int32_t* words, uint8_t*) {
       WriteThree(ring);
       words[kHead] = 12;
     },
     OldestOne},
    {"a frame length past the largest payload",
     {256, false, 0},
     [](FrameRing& ring, int32_t*, uint8_t* data) {
       WriteThree(ring);
       uint32_t length = 0x7ffffff0;
       std::memcpy(data, &length, 4);
     },
     OldestOne},
    {"a frame length that runs past the ring's end",
     {256, false, 0},
     [](FrameRing& ring, int32_t*, uint8_t* data) {
       WriteThree(ring);
       uint32_t length = 240;
       std::memcpy(data + 24, &length, 4);
     },
     ReadAll},
    {"a frame length within the ring but past what was published",
     {256, false, 0},
     [](FrameRing& ring, int32_t*, uint8_t* data) {
       WriteThree(ring);
       uint32_t length = 100;
       std::memcpy(data, &length, 4);
     },
     ReadAll},
    {"a tag word without the published bit",
     {256, false, 0},
     [](FrameRing& ring, int32_t*, uint8_t* data) {
       WriteThree(ring);
       uint32_t tag = 5;
       std::memcpy(data + 4, &tag, 4);
     },
     OldestOne},
    {"a padding frame that does not end the ring",
     {256, false, 0},
     [](FrameRing& ring, int32_t*, uint8_t* data) {
       WriteThree(ring);
       uint32_t tag = kPadding;
       std::memcpy(data + 4, &tag, 4);
     },
     OldestOne},
    {"frames published behind an empty header",
     {256, false, 0},
     [](FrameRing& ring, int32_t*, uint8_t* data) {
       WriteThree(ring);
       std::memset(data + 4, 0, 4);
     },
     OldestOne},
    {"a read position more than a ring away from TAIL",
     {256, false, 0},
     [](FrameRing&, int32_t* words, uint8_t*) { words[kHead] = 4096; },
     OldestOne},
    {"TAIL more than a ring away from HEAD",
     {256, false, 0},
     [](FrameRing& ring, int32_t* words, uint8_t*) {
       WriteThree(ring);
       words[kTail] = static_cast<int32_t>(Load(words + kTail) + 1024);
     },
     ReserveSome},
    {"no frame at HEAD of a full ring",
     {256, false, 0},
     [](FrameRing& ring, int32_t*, uint8_t* data) {
       Fill(ring);
       std::memset(data + 4, 0, 4);
     },
     ReserveMore},
    {"a message count over maxsize",
     {1024, true, 4},
     [](FrameRing& ring, int32_t* words, uint8_t*) {
       WriteThree(ring);
       words[kCount] = 9;
     },
     ReserveSome},
    {"a message count with no message published",
     {1024, true, 0},
     [](FrameRing&, int32_t* words, uint8_t*) { words[kCount] = 5; },
     OldestOne},
    {"a negative message count with no message published",
     {1024, true, 0},
     [](FrameRing&, int32_t* words, uint8_t*) { words[kCount] = -7; },
     OldestOne},
    {"a CURSOR behind HEAD",
     {1024, true, 0},
     [](FrameRing& ring, int32_t* words, uint8_t*) {
       WriteThree(ring);
       ReadAll(ring);
       words[kCursor] = 0;
     },
     OldestOne},
    {"a held frame at a position where no frame starts",
     {1024, true, 0},
     [](FrameRing& ring, int32_t* words, uint8_t*) {
       WriteThree(ring);
       Frame frame;
       int entry;
       if (ring.Hold(7, &frame, &entry) != RingStatus::kOk || entry != 0) Fail("a hold to set a case up failed");
       words[kHolderPosition] = 4;
     },
     [](FrameRing& ring) {
       Frame frame;
       return ring.Adopt(0, 7, 8, &frame);
     }},
    {"a held frame whose length runs past CURSOR",
     {1024, true, 0},
     [](FrameRing& ring, int32_t*, uint8_t* data) {
       WriteThree(ring);
       Frame frame;
       int entry;
       if (ring.Hold(7, &frame, &entry) != RingStatus::kOk) Fail("a hold to set a case up failed");
       uint32_t length = 200;
       std::memcpy(data, &length, 4);
     },
     [](FrameRing& ring) {
       Frame frame;
       return ring.Adopt(0, 7, 8, &frame);
     }},
};

int RunCorruptCases() {
  long corrupt = 0;
  for (const CorruptCase& spoiled : kCorruptCases) {
    where = spoiled.name;
    RingMemory memory(spoiled.config.capacity, spoiled.config.queue, spoiled.config.maxsize);
    FrameRing ring(memory.words, spoiled.config.capacity);
    spoiled.spoil(ring, memory.words, memory.data());
    RingStatus status = spoiled.found(ring);
    EXPECT(status == RingStatus::kCorrupt, "found as %s, not kCorrupt", Name(status));
    EXPECT(ring.corruption().rfind("corrupt ring: ", 0) == 0, "the message is \"%s\"", ring.corruption().c_str());
    corrupt++;
    long more = 0;
    EXPECT(WorksAgain(ring, 99, &more), "the ring does not work after the reset");
  }
  std::printf("{\"cases\":%ld}\n", corrupt);
  return 0;
}

// Random operations, with a random word written wrong every few steps: any
// status may come, but no crash and no access outside the ring; and once
// the writes stop, the ring works again.
int RunChaos(uint32_t seed, long steps) {
  Counts counts;
  std::mt19937 random(seed);
  auto below = [&](uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(random); };
  for (const Config& config : kConfigs) {
    if (config.capacity > 4096) continue;  // the small rings wrap, and are written wrong, the most often
    RingMemory memory(config.capacity, config.queue, config.maxsize);
    FrameRing ring(memory.words, config.capacity);
    std::map<int, uint32_t> held;  // entry -> token, as this consumer believes
    uint32_t id = 1;
    for (long step = 0; step < steps; step++) {
      SetWhere("chaos", config, seed, step);
      if (below(8) == 0) {
        // A word another program wrote: a control word or a frame header word.
        static const int kWords[] = {kTail, kHead, kCursor, kCount, kHeldCount, kHolderPosition, kHolderToken};
        int32_t* word;
        if (below(2) == 0) {
          int index = kWords[below(sizeof kWords / sizeof kWords[0])];
          if (index == kHolderPosition || index == kHolderToken) index += static_cast<int>(below(kHolders));
          word = memory.words + index;
        } else {
          word = reinterpret_cast<int32_t*>(memory.data() + 4 * below(config.capacity / 4));
        }
        uint32_t old = Load(word);
        uint32_t values[] = {static_cast<uint32_t>(random()),
                             old + 8,
                             old - 8,
                             old + 1,
                             0,
                             kPublished | below(40),
                             kPadding,
                             old + config.capacity,
                             config.capacity - 8,
                             uint32_t(-1),
                             old ^ 0x80000000u};
        Store(word, values[below(sizeof values / sizeof values[0])]);
      }
      uint32_t op = below(10);
      Frame frame;
      RingStatus status = RingStatus::kOk;
      if (op < 4) {
        uint32_t kind = below(4);
        uint32_t length = kind == 0 ? below(ring.MaxPayload() + 32) : below(40);
        status = WriteMessage(ring, id++, length);
        if (status == RingStatus::kOk) counts.written++;
      } else if (op < 7) {
        status = ring.Oldest(&frame);
        if (status == RingStatus::kOk) {
          TouchFrame(ring, frame);
          ring.Release(frame);
          counts.read++;
        }
      } else if (config.queue && op < 8) {
        int entry = -1;
        uint32_t token = 1 + below(1000);
        status = ring.Hold(token, &frame, &entry);
        if (status == RingStatus::kOk) {
          EXPECT(entry >= 0 && entry < kHolders, "Hold gave entry %d", entry);
          TouchFrame(ring, frame);
          held[entry] = token;
          counts.held++;
        }
      } else if (config.queue && op < 9 && !held.empty()) {
        auto it = held.begin();
        std::advance(it, below(static_cast<uint32_t>(held.size())));
        ring.Unhold(it->first, it->second);
        held.erase(it);
      } else if (config.queue && !held.empty()) {
        auto it = held.begin();
        status = ring.Adopt(it->first, it->second, it->second + 1, &frame);
        if (status == RingStatus::kOk) {
          TouchFrame(ring, frame);
          it->second++;
          counts.adopted++;
        }
      } else {
        (void)ring.HasData();
        (void)ring.EmptyWord();
      }
      if (status == RingStatus::kCorrupt) {
        counts.corrupt++;
        EXPECT(ring.corruption().rfind("corrupt ring: ", 0) == 0, "the message is \"%s\"", ring.corruption().c_str());
      }
    }
    for (auto& [entry, token] : held) ring.Unhold(entry, token);
    SetWhere("chaos recovery", config, seed, steps);
    EXPECT(WorksAgain(ring, id, &counts.corrupt), "the ring does not work once the wrong writes stop");
    counts.recovered++;
  }
  std::printf("{\"written\":%ld,\"read\":%ld,\"held\":%ld,\"adopted\":%ld,\"corrupt\":%ld,\"recovered\":%ld}\n",
              counts.written, counts.read, counts.held, counts.adopted, counts.corrupt, counts.recovered);
  return 0;
}

// The payload length of message `id` in a threads run: mostly short, now
// and then the largest, so that frames wrap and padding frames come.
uint32_t LengthOf(const FrameRing& ring, uint32_t id) {
  if (id % 97 == 0) return ring.MaxPayload();
  return (id * 37) % (ring.MaxPayload() / 4 + 1);
}

// Writes messages 1..count, waiting (yielding) while there is no room.
void WriteInOrder(int32_t* words, uint32_t capacity, uint32_t count) {
  FrameRing ring(words, capacity);
  for (uint32_t id = 1; id <= count; id++) {
    for (;;) {
      RingStatus status = WriteMessage(ring, id, LengthOf(ring, id));
      if (status == RingStatus::kOk) break;
      EXPECT(status == RingStatus::kNoRoom, "a write of message %u is %s", id, Name(status));
      std::this_thread::yield();
    }
  }
}

// A Pipe's reader: every message once, in order, intact.
void ReadInOrder(int32_t* words, uint32_t capacity, uint32_t count) {
  FrameRing ring(words, capacity);
  for (uint32_t id = 1; id <= count;) {
    Frame frame;
    RingStatus status = ring.Oldest(&frame);
    if (status == RingStatus::kEmpty) {
      std::this_thread::yield();
      continue;
    }
    EXPECT(status == RingStatus::kOk, "a read of message %u is %s", id, Name(status));
    ExpectMessage(ring, frame, Message{id, LengthOf(ring, id), 1}, "a read");
    ring.Release(frame);
    id++;
  }
}

// A Queue's consumers share the get lock and the count of messages taken;
// each takes with the lock held, some as views that it releases later, in
// any order, without the lock (checking their bytes stayed).
struct Consumers {
  std::mutex get_lock;
  uint32_t taken = 0;  // with get_lock
};

void Consume(int32_t* words, uint32_t capacity, uint32_t count, Consumers& shared, uint32_t token) {
  FrameRing ring(words, capacity);
  std::mt19937 random(token);
  std::vector<std::pair<int, Message>> held;
  std::vector<Frame> frames;
  for (;;) {
    if (!held.empty() && (random() % 3 == 0 || held.size() >= 8)) {
      size_t which = random() % held.size();
      ExpectMessage(ring, frames[which], held[which].second, "a held frame");
      EXPECT(ring.Unhold(held[which].first, token), "Unhold of entry %d failed", held[which].first);
      held.erase(held.begin() + static_cast<long>(which));
      frames.erase(frames.begin() + static_cast<long>(which));
      continue;
    }
    std::unique_lock<std::mutex> lock(shared.get_lock);
    if (shared.taken == count) break;
    Frame frame;
    uint32_t id = shared.taken + 1;
    Message message{id, LengthOf(ring, id), 1};
    if (random() % 2 == 0) {
      int entry = -1;
      RingStatus status = ring.Hold(token, &frame, &entry);
      if (status == RingStatus::kOk) {
        ExpectMessage(ring, frame, message, "a hold");
        held.emplace_back(entry, message);
        frames.push_back(frame);
        shared.taken++;
        continue;
      }
      EXPECT(status == RingStatus::kEmpty || status == RingStatus::kHoldersFull, "a hold of message %u is %s", id,
             Name(status));
    } else {
      RingStatus status = ring.Oldest(&frame);
      if (status == RingStatus::kOk) {
        ExpectMessage(ring, frame, message, "a get");
        ring.Release(frame);
        shared.taken++;
        continue;
      }
      EXPECT(status == RingStatus::kEmpty, "a get of message %u is %s", id, Name(status));
    }
    lock.unlock();
    std::this_thread::yield();
  }
  for (size_t i = 0; i < held.size(); i++) {
    ExpectMessage(ring, frames[i], held[i].second, "a held frame at the end");
    EXPECT(ring.Unhold(held[i].first, token), "Unhold of entry %d at the end failed", held[i].first);
  }
}

int RunThreads(uint32_t count) {
  long runs = 0;
  for (const Config& config : kConfigs) {
    SetWhere("threads", config, 0, count);
    RingMemory memory(config.capacity, config.queue, config.maxsize);
    std::thread writer(WriteInOrder, memory.words, config.capacity, count);
    if (config.queue) {
      Consumers shared;
      std::thread first(Consume, memory.words, config.capacity, count, std::ref(shared), 101u);
      std::thread second(Consume, memory.words, config.capacity, count, std::ref(shared), 202u);
      first.join();
      second.join();
    } else {
      std::thread reader(ReadInOrder, memory.words, config.capacity, count);
      reader.join();
    }
    writer.join();
    FrameRing ring(memory.words, config.capacity);
    Frame frame;
    EXPECT(ring.Oldest(&frame) == RingStatus::kEmpty, "a ring with every message taken is not empty");
    EXPECT(!config.queue || (Load(memory.words + kCount) == 0 && Load(memory.words + kHeldCount) == 0 &&
                             Load(memory.words + kHead) == Load(memory.words + kCursor)),
           "COUNT, HELD_COUNT or HEAD not back to an empty queue's");
    runs++;
  }
  std::printf("{\"runs\":%ld,\"messages\":%ld}\n", runs, runs * count);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  uint32_t seed = argc > 2 ? static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10)) : 1;
  long steps = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 20000;
  if (mode == "model") return RunModel(seed, steps);
  if (mode == "corrupt") return RunCorruptCases();
  if (mode == "chaos") return RunChaos(seed, steps);
  if (mode == "threads")
    return RunThreads(argc > 2 ? static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10)) : 20000);
  std::fprintf(stderr, "usage: %s model|corrupt|chaos [seed] [steps] | threads [messages]\n", argv[0]);
  return 2;
}

// A per-environment doorbell: a socket the event loop polls, that a waker in
// another process rings with one datagram. Why, when futex waits already
// work: on the VMs measured, a futex wake of an idle event loop took 60-130 us
// (the woken process is placed on an idle, halted vCPU), while a socket write
// wakes its reader "synchronously" (next to the writer, which is about to
// sleep) in 35-50 us. docs/design.md, "Doorbells".
//
// Linux: a Unix datagram socket bound to the file /dev/shm/.shmkit-bell-<id>,
// not an abstract name: the abstract namespace has no permissions, and its
// names are listed in world-readable /proc/net/unix, so any local user could
// flood a doorbell (every datagram a wake-up of its event loop, and a full
// queue drops the rings that matter). Sending to a socket file needs write
// permission on it, checked by the kernel before anything is queued: the file
// is 0600 (its owner's uid, and root), plus the group and other write bits
// of any object this process created or opened (ObjectWriteBits, sys/shm.h):
// who may write an object may wake its waiters anyway. A stranger's datagram costs the owner
// nothing. The file lives beside the objects, so a doorbell reaches every
// process that shares them (also across network namespaces). The destructor
// removes it, and exit() (process.exit, an uncaught exception); a file left
// by a killed process is removed by the next process of its uid that opens a
// doorbell, or `shmkit gc --force` (a connect finds no socket bound to it).
// Its id is published in a channel's waiting flag; a ring that reaches it is
// at worst a spurious wake (waiters re-check). A waiter that listens for its
// doorbell sleeps on nothing else; a waker that cannot ring it (no write
// permission, another /dev/shm) wakes the futex, and the waiter then sees the
// change at the end of its slice (100 ms). docs/design.md, "Doorbells".
// SHMKIT_DOORBELL=off turns doorbells off. macOS: none (futex waits only).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

#include "wait/wait_backend.h"

namespace shmkit {

// Ids are >= 2: a waiting flag of 1 means "a sleeper without a doorbell".
constexpr uint32_t kFirstDoorbellId = 2;

class Doorbell {
 public:
  // nullptr where the platform has none.
  static std::unique_ptr<Doorbell> Open();
  virtual ~Doorbell() = default;
  virtual uint32_t id() const = 0;
  virtual int fd() const = 0;
  // Reads one pending ring. One recv per wake-up, not a loop to EAGAIN: the
  // event loop polls the socket level-triggered, so rings left over (several
  // peers rang at once) call back on its next turn, and the usual wake-up
  // saves a system call (docs/design.md, "Doorbells").
  virtual void TakeRing() = 0;
};

// The doorbell as a wait backend: a wait armed on it does not watch its word;
// the next ring ends it ('ok'), and its caller re-checks the word.
class DoorbellBackend : public WaitBackend {
 public:
  explicit DoorbellBackend(std::unique_ptr<Doorbell> bell) : bell_(std::move(bell)) {}
  const Doorbell& bell() const { return *bell_; }
  int ArmWord(uint64_t id, int32_t* addr, int32_t expected) override;
  void Disarm(uint64_t id) override;
  // Takes one ring (see Doorbell::TakeRing) and ends every wait armed.
  void Drain(std::vector<Completion>* out) override;
  // Rings taken (for tests).
  uint64_t rings() const { return rings_; }

 private:
  std::unique_ptr<Doorbell> bell_;
  std::unordered_set<uint64_t> armed_;
  uint64_t rings_ = 0;
};

// Rings doorbell `id` without blocking. True if it was rung, or is full
// (its owner is being woken anyway); false if no such doorbell is reachable.
bool RingDoorbell(uint32_t id);

// Removes the doorbell files of this uid that no process has bound (their
// process was killed); root's removes every uid's.
void SweepStaleDoorbells();

}  // namespace shmkit

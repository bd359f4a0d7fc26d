// A per-environment doorbell: a socket the event loop polls, that a waker in
// another process rings with one datagram. Why, when futex waits already
// work: on the VMs measured, a futex wake of an idle event loop took 60-130 us
// (the woken process is placed on an idle, halted vCPU), while a socket write
// wakes its reader "synchronously" (next to the writer, which is about to
// sleep) in 35-50 us. docs/design.md, "Doorbells".
//
// Linux: an abstract-namespace Unix datagram socket "\0shmkit-bell-<id>":
// nothing in the file system, so nothing to leak when a process is killed.
// Its id is published in a channel's waiting flag; any process can ring it
// (at worst a spurious wake: waiters re-check). A waiter that listens for its
// doorbell sleeps on nothing else; a waker that cannot ring it (another
// network namespace, where the name does not reach) wakes the futex, and the
// waiter then sees the change at the end of its slice (100 ms).
// SHMKIT_DOORBELL=off turns doorbells off. macOS: none (futex waits only).
#pragma once
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

 private:
  std::unique_ptr<Doorbell> bell_;
  std::unordered_set<uint64_t> armed_;
};

// Rings doorbell `id` without blocking. True if it was rung, or is full
// (its owner is being woken anyway); false if no such doorbell is reachable.
bool RingDoorbell(uint32_t id);

}  // namespace shmkit

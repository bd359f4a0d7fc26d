// The wake and the spin on a shared-memory word, without N-API: what the
// frame protocol (native/channel/frame_ring.cc) needs of the wait layer, so
// that it builds and is tested on its own. Implemented in wait.cc.
#pragma once
#include <cstdint>

namespace shmkit {

// Wakes up to `count` sleepers on *addr; `flag` is a channel's waiting flag
// as the waker read it: a doorbell id is rung instead of the futex when it
// can be (doorbell.h). Returns the futex waiters woken (Linux) or 0; -1
// with errno on failure.
int NotifyWord(int32_t* addr, int32_t count, uint32_t flag);

// Loads *addr until it differs from `expected` (true) or about `ms`
// milliseconds have passed (false). No system call, no pause instruction.
bool SpinWhileEqual(const int32_t* addr, int32_t expected, double ms);

}  // namespace shmkit

// macOS has no OFD locks, and flock() does not work on POSIX shared-memory
// descriptors. Until the token-file design (DESIGN.md, decision 5: flock on a
// temp file linked into place) is written and run on a Mac, every token reads
// as alive: a lock whose holder is killed stays held (never falsely taken).
#include <unistd.h>

#include "liveness.h"

namespace shmkit {

const bool kLivenessSupported = false;

int LivenessAcquire(int fd, uint32_t, int* held) {
  int own = dup(fd);
  if (own < 0) return errno;
  *held = own;
  return 0;
}

void LivenessRelease(int held) { close(held); }

int LivenessAlive(int, uint32_t) { return 1; }

}  // namespace shmkit

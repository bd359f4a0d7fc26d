// OFD locks (F_OFD_SETLK / F_OFD_GETLK) belong to the open file description,
// not the process: they conflict between handles of one process and between
// worker threads, survive fork-less exec games, and vanish when the last
// descriptor closes, which the kernel does when the process dies. Never
// classic fcntl locks: those never conflict within one process.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "sys/liveness.h"

namespace shmkit {

namespace {
constexpr off_t kLivenessBase = off_t{1} << 40;
// Tokens are 1 .. 2^30 - 1 (the lock word's owner bits): every token's byte
// lies in [kLivenessBase, kLivenessBase + kTokenRange).
constexpr off_t kTokenRange = off_t{1} << 30;

struct flock LockRange(uint32_t token, short type) {
  struct flock range = {};
  range.l_type = type;
  range.l_whence = SEEK_SET;
  range.l_start = kLivenessBase + static_cast<off_t>(token);
  range.l_len = 1;
  range.l_pid = 0;  // required for OFD locks
  return range;
}

// Who holds `token`'s byte now: EAGAIN a handle (a lock of that one byte),
// EBUSY a lock over more (shmkit gc's, over every token), 0 no one any more.
int Holder(int fd, uint32_t token) {
  struct flock probe = LockRange(token, F_WRLCK);
  if (fcntl(fd, F_OFD_GETLK, &probe) != 0) return errno;
  if (probe.l_type == F_UNLCK) return 0;
  return probe.l_len == 1 ? EAGAIN : EBUSY;
}
}  // namespace

int LivenessAcquire(int fd, uint32_t token, int* held) {
  // A descriptor of our own (same open file description as `fd`, so the
  // segment is not reopened by name and an unlinked name does not matter).
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return errno;
  struct flock range = LockRange(token, F_WRLCK);
  int err = 0;
  // The holder may let go between the failed lock and the look: try again then.
  for (int attempt = 0; attempt < 3; attempt++) {
    if (fcntl(own, F_OFD_SETLK, &range) == 0) {
      // An object's age for `shmkit gc` (ignored if it fails: it is advice).
      futimens(own, nullptr);
      *held = own;
      return 0;
    }
    err = errno;
    if (err != EAGAIN && err != EACCES) break;
    err = Holder(own, token);
    if (err != 0) break;
    err = EAGAIN;
  }
  close(own);
  return err;
}

void LivenessRelease(int held) {
  // Still holding the token: a gc cannot be deciding meanwhile, and sees
  // this close's time once it can.
  futimens(held, nullptr);
  close(held);
}

int LivenessExcludeAll(int fd, std::vector<uint32_t> except) {
  // Each piece, once locked, stays locked: a token taken in it before we
  // got there makes its piece fail, one taken later is refused. So all
  // pieces locked means no token outside `except` is held, nor can be.
  auto lock = [fd](off_t start, off_t end) {
    if (end <= start) return 0;
    struct flock range = {};
    range.l_type = F_WRLCK;
    range.l_whence = SEEK_SET;
    range.l_start = start;
    range.l_len = end - start;
    range.l_pid = 0;
    if (fcntl(fd, F_OFD_SETLK, &range) == 0) return 0;
    return errno == EACCES ? EAGAIN : errno;
  };
  std::sort(except.begin(), except.end());
  off_t from = kLivenessBase;
  for (uint32_t token : except) {
    off_t at = kLivenessBase + static_cast<off_t>(token);
    if (at < from || at >= kLivenessBase + kTokenRange) continue;  // a repeat, or not a token
    if (int err = lock(from, at)) return err;
    from = at + 1;
  }
  return lock(from, kLivenessBase + kTokenRange);
}

int LivenessAlive(int held, uint32_t token) {
  struct flock range = LockRange(token, F_WRLCK);
  if (fcntl(held, F_OFD_GETLK, &range) != 0) return -errno;
  return range.l_type == F_UNLCK ? 0 : 1;
}

}  // namespace shmkit

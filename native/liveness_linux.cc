// OFD locks (F_OFD_SETLK / F_OFD_GETLK) belong to the open file description,
// not the process: they conflict between handles of one process and between
// worker threads, survive fork-less exec games, and vanish when the last
// descriptor closes, which the kernel does when the process dies. Never
// classic fcntl locks: those never conflict within one process.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "liveness.h"

namespace shmkit {

namespace {
constexpr off_t kLivenessBase = off_t{1} << 40;

struct flock LockRange(uint32_t token, short type) {
  struct flock range = {};
  range.l_type = type;
  range.l_whence = SEEK_SET;
  range.l_start = kLivenessBase + static_cast<off_t>(token);
  range.l_len = 1;
  range.l_pid = 0;  // required for OFD locks
  return range;
}
}  // namespace

int LivenessAcquire(int fd, uint32_t token, int* held) {
  // A descriptor of our own (same open file description as `fd`, so the
  // segment is not reopened by name and an unlinked name does not matter).
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return errno;
  struct flock range = LockRange(token, F_WRLCK);
  if (fcntl(own, F_OFD_SETLK, &range) != 0) {
    int err = errno == EACCES ? EAGAIN : errno;
    close(own);
    return err;
  }
  *held = own;
  return 0;
}

void LivenessRelease(int held) { close(held); }

int LivenessAlive(int held, uint32_t token) {
  struct flock range = LockRange(token, F_WRLCK);
  if (fcntl(held, F_OFD_GETLK, &range) != 0) return -errno;
  return range.l_type == F_UNLCK ? 0 : 1;
}

}  // namespace shmkit

// Linux: posix_fallocate reserves the pages now, so a full /dev/shm reports
// ENOSPC here rather than SIGBUS on a later write.
#include <fcntl.h>

#include "shm.h"

namespace shmkit {

const char* const kAllocateSyscall = "posix_fallocate";

int AllocateSegment(int fd, size_t size) {
  int err;
  do {
    err = posix_fallocate(fd, 0, static_cast<off_t>(size));
  } while (err == EINTR);
  return err;
}

}  // namespace shmkit

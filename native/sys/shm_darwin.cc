// macOS: shared-memory objects accept exactly one ftruncate (the one that sets
// their size) and no posix_fallocate; pages are reserved on first touch.
// Written from the manuals; it cannot be run on the Linux build machines.
#include <unistd.h>

#include <cerrno>

#include "sys/shm.h"

namespace shmkit {

const char* const kAllocateSyscall = "ftruncate";

int AllocateSegment(int fd, size_t size) {
  while (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

// macOS has no MADV_POPULATE_WRITE: pages fault in at first touch.
void PopulatePages(void*, size_t) {}

}  // namespace shmkit

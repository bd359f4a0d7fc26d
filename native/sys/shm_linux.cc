// Linux: posix_fallocate reserves the pages now, so a full /dev/shm reports
// ENOSPC here rather than SIGBUS on a later write.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "sys/shm.h"

namespace shmkit {

const char* const kAllocateSyscall = "posix_fallocate";

int AllocateSegment(int fd, size_t size) {
  int err;
  do {
    err = posix_fallocate(fd, 0, static_cast<off_t>(size));
  } while (err == EINTR);
  return err;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

// One system call maps every page of the range, instead of one page fault
// per 4 KiB page at first touch (docs/design.md, "First touch of a ring",
// has the cost). Older kernels: nothing done.
void PopulatePages(void* start, size_t length) {
  // madvise wants whole pages: widen the range to the pages it touches.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(start) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(start) + length + page - 1) & ~(page - 1);
  int err;
  do {
    err = madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE) == 0 ? 0 : errno;
  } while (err == EINTR);
}

}  // namespace shmkit

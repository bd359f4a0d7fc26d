#include <semaphore.h>
#include <time.h>

#include <cerrno>

#include "sem.h"

namespace shmkit {

const char* const kSemWaitSyscall = "sem_clockwait";

int SemTimedWait(sem_t* sem, int64_t timeout_ns) {
  int rc;
  if (timeout_ns < 0) {
    rc = sem_wait(sem);
  } else {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    int64_t ns = deadline.tv_nsec + timeout_ns;
    deadline.tv_sec += ns / 1000000000;
    deadline.tv_nsec = ns % 1000000000;
    rc = sem_clockwait(sem, CLOCK_MONOTONIC, &deadline);
  }
  return rc == 0 ? 0 : errno;
}

}  // namespace shmkit

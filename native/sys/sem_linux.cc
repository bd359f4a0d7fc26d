#include <semaphore.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "sys/sem.h"

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

int64_t SemRoom(sem_t* sem) {
  int value = 0;
  if (sem_getvalue(sem, &value) != 0) return -1;
  // glibc and musl never report waiters as a negative value; clamp in case.
  return static_cast<int64_t>(SEM_VALUE_MAX) - std::max(value, 0);
}

}  // namespace shmkit

// macOS: no sem_timedwait (and sem_getvalue is ENOSYS). A timed wait polls
// sem_trywait with sleeps growing from 50 us to 5 ms. Written from the
// manuals; the Linux build machines cannot run it.
#include <semaphore.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "sys/sem.h"

namespace shmkit {

const char* const kSemWaitSyscall = "sem_trywait";

namespace {
int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
}  // namespace

int SemTimedWait(sem_t* sem, int64_t timeout_ns) {
  if (timeout_ns < 0) return sem_wait(sem) == 0 ? 0 : errno;
  int64_t deadline = NowNs() + timeout_ns;
  useconds_t nap = 50;
  for (;;) {
    if (sem_trywait(sem) == 0) return 0;
    if (errno != EAGAIN) return errno;
    int64_t left = deadline - NowNs();
    if (left <= 0) return ETIMEDOUT;
    usleep(static_cast<useconds_t>(std::min<int64_t>(nap, left / 1000 + 1)));
    nap = std::min<useconds_t>(nap * 2, 5000);
  }
}

int64_t SemRoom(sem_t*) { return -1; }

}  // namespace shmkit

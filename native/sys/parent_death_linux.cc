#include <sys/prctl.h>

#include <cerrno>
#include <csignal>

#include "sys/parent_death.h"

namespace shmkit {

int ExitWithParent() { return prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 ? 0 : errno; }

}  // namespace shmkit

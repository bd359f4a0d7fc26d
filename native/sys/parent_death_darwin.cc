#include <cerrno>

#include "sys/parent_death.h"

namespace shmkit {

int ExitWithParent() { return ENOSYS; }

}  // namespace shmkit

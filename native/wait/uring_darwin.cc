// macOS has no io_uring: every async wait goes to the waiter thread.
#include "wait/uring.h"

namespace shmkit {

std::unique_ptr<UringWaiter> UringWaiter::Create() { return nullptr; }

}  // namespace shmkit

// A Pool worker's tie to its parent: the kernel ends the worker when the
// process that spawned it dies, even in the middle of a long task.
// Linux: prctl(PR_SET_PDEATHSIG). macOS has no such call: the worker then
// notices a dead parent through its pipe, between tasks.
#pragma once
#include <napi.h>

namespace shmkit {

// Asks for SIGKILL when the parent dies. Returns 0, ENOSYS where the
// platform has no such request, or another errno.
int ExitWithParent();

void InitParentDeath(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

#include "sys/parent_death.h"

#include <cerrno>

#include "core/errors.h"

namespace shmkit {

// exitWithParent() -> boolean: true if armed, false where the platform has
// no such request (macOS). Throws on any other failure.
static Napi::Value ExitWithParentJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = ExitWithParent();
  if (err == ENOSYS) return Napi::Boolean::New(env, false);
  if (err != 0) throw ErrnoError(env, err, "prctl");
  return Napi::Boolean::New(env, true);
}

void InitParentDeath(Napi::Env env, Napi::Object exports) {
  exports.Set("exitWithParent", Napi::Function::New(env, ExitWithParentJs, "exitWithParent"));
}

}  // namespace shmkit

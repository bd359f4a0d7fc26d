// The errors the addon throws are the library's own ShmErrors: lib/ hands the
// addon a factory at load (setErrorFactory, lib/core/native.ts) that builds
// one from (errno, syscall, message, code), so the errno's name and the
// documented codes are decided in one place (lib/core/errors.ts), and C++
// throws the final error. Until the factory is set (or if it throws), a
// plain Error with the same fields.
#pragma once
#include <napi.h>

namespace shmkit {

// The error for a failed system call (err is a positive errno value).
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

// An error carrying a library code (e.g. ERR_SHM_CLOSED) for misuse that
// only the native layer can see.
Napi::Error CodeError(Napi::Env env, const char* code, const char* message);

// The error for an N-API call that failed (`status`), as ERR_SHM_NATIVE.
Napi::Error StatusError(Napi::Env env, napi_status status, const char* call);

// Throws StatusError unless `status` is napi_ok. For the N-API calls whose
// failure would leave a result unset.
void Check(Napi::Env env, napi_status status, const char* call);

void InitErrors(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

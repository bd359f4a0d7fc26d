// errno -> JS Error. The native layer only reports what the system said
// (errno number, syscall name, strerror text); lib/errors.ts turns that into a
// ShmError with the errno name as its stable `code`, as Node's fs does.
#pragma once
#include <napi.h>

namespace shmkit {

// Builds the Error for a failed system call (err is a positive errno value).
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

// Builds an Error carrying a library code (e.g. ERR_SHM_CLOSED) for misuse
// that only the native layer can see.
Napi::Error CodeError(Napi::Env env, const char* code, const char* message);

}  // namespace shmkit

#include "core/errors.h"

#include <cstring>
#include <string>

#include "core/env_state.h"

namespace shmkit {

namespace {

// The factory's error, or a plain Error with the same fields when there is
// no factory yet or it failed.
Napi::Error Made(Napi::Env env, napi_value errno_value, const char* syscall, const std::string& message,
                 const char* code) {
  Napi::Value no = env.Undefined();
  napi_value syscall_value = syscall ? Napi::String::New(env, syscall) : no;
  napi_value code_value = code ? Napi::String::New(env, code) : no;
  napi_value message_value = Napi::String::New(env, message);
  EnvState* state = EnvState::Get(env);
  if (napi_ref factory_ref = state ? state->error_factory() : nullptr) {
    napi_value factory, made;
    napi_value args[4] = {errno_value, syscall_value, message_value, code_value};
    if (napi_get_reference_value(env, factory_ref, &factory) == napi_ok && factory != nullptr &&
        napi_call_function(env, no, factory, 4, args, &made) == napi_ok) {
      return Napi::Error(env, made);
    }
    napi_value ignored;
    (void)napi_get_and_clear_last_exception(env, &ignored);  // the factory threw: fall back below
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Value(env, errno_value));
  if (syscall) error.Set("syscall", syscall_value);
  if (code) error.Set("code", code_value);
  return error;
}

// setErrorFactory(fn): fn(errno, syscall, message, code) -> the error to throw.
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) throw CodeError(env, "ERR_SHM_INVALID_ARG", "setErrorFactory takes a function");
  napi_ref ref;
  Check(env, napi_create_reference(env, info[0], 1, &ref), "napi_create_reference");
  EnvState::Get(env)->set_error_factory(env, ref);
  return env.Undefined();
}

}  // namespace

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  return Made(env, Napi::Number::New(env, err), syscall, std::string(syscall) + " failed: " + std::strerror(err),
              nullptr);
}

Napi::Error CodeError(Napi::Env env, const char* code, const char* message) {
  return Made(env, env.Undefined(), nullptr, message, code);
}

Napi::Error StatusError(Napi::Env env, napi_status status, const char* call) {
  const napi_extended_error_info* info = nullptr;
  if (napi_get_last_error_info(env, &info) != napi_ok) info = nullptr;
  std::string message = std::string(call) + " failed (napi_status " + std::to_string(status) + ")";
  if (info && info->error_message) message += ": " + std::string(info->error_message);
  return CodeError(env, "ERR_SHM_NATIVE", message.c_str());
}

void Check(Napi::Env env, napi_status status, const char* call) {
  if (status != napi_ok) throw StatusError(env, status, call);
}

void InitErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
}

}  // namespace shmkit

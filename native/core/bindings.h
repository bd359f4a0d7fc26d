// How each file hands its functions to JS: one table per file, so adding a
// function is one line, and its JS name is written once.
#pragma once
#include <napi.h>

#include <initializer_list>

namespace shmkit {

struct Binding {
  const char* name;  // the JS name, also the function's own name
  Napi::Function::Callback function;
};

inline void Bind(Napi::Env env, Napi::Object exports, std::initializer_list<Binding> bindings) {
  for (const Binding& binding : bindings) {
    exports.Set(binding.name, Napi::Function::New(env, binding.function, binding.name));
  }
}

}  // namespace shmkit

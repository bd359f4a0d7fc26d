// How a native object is handed to JS: an External tagged with its type (so
// a handle of one kind passed where another is expected is refused, not
// reinterpreted), that keeps alive the JS values whose memory the object
// points into (a spinner's Int32Array, another handle) until JS lets go of
// it. One template for every handle type (ring, Pipe end, Queue, mapping).
#pragma once
#include <napi.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "core/errors.h"

namespace shmkit {

// Each handle type T names itself: `static constexpr napi_type_tag kTypeTag`
// (two random 64-bit numbers), `static constexpr const char* kHandleName`.
template <typename T>
class Handle {
 public:
  // Hands `object` to JS. `release` runs when JS lets go (default: delete);
  // `kept` stay alive until then.
  static Napi::Value Wrap(Napi::Env env, T* object, std::initializer_list<Napi::Value> kept = {},
                          void (*release)(T*) = DeleteObject) {
    auto* holder = new Holder{object, release, {}};
    for (const Napi::Value& value : kept) {
      napi_ref ref;
      napi_status status = napi_create_reference(env, value, 1, &ref);
      if (status != napi_ok) {
        Drop(env, holder);
        throw StatusError(env, status, "napi_create_reference");
      }
      holder->kept.push_back(ref);
    }
    napi_value external;
    napi_status status = napi_create_external(env, holder, Finalize, nullptr, &external);
    if (status != napi_ok) {
      Drop(env, holder);
      throw StatusError(env, status, "napi_create_external");
    }
    Check(env, napi_type_tag_object(env, external, &T::kTypeTag), "napi_type_tag_object");
    return Napi::Value(env, external);
  }

  // The object behind a value Wrap made; ERR_SHM_INVALID_ARG for any other.
  static T* From(const Napi::Value& value) {
    bool tagged = false;
    napi_env env = value.Env();
    if (!value.IsExternal() || napi_check_object_type_tag(env, value, &T::kTypeTag, &tagged) != napi_ok || !tagged) {
      throw CodeError(value.Env(), "ERR_SHM_INVALID_ARG", (std::string("not a ") + T::kHandleName).c_str());
    }
    return static_cast<Holder*>(value.As<Napi::External<void>>().Data())->object;
  }

 private:
  struct Holder {
    T* object;
    void (*release)(T*);
    std::vector<napi_ref> kept;
  };

  static void DeleteObject(T* object) { delete object; }

  // Lets go of what `holder` keeps; a finalizer has no one to report a failure to.
  static void Drop(napi_env env, Holder* holder) {
    for (napi_ref ref : holder->kept) (void)napi_delete_reference(env, ref);
    holder->release(holder->object);
    delete holder;
  }

  static void Finalize(napi_env env, void* data, void*) { Drop(env, static_cast<Holder*>(data)); }
};

}  // namespace shmkit

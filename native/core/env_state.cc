#include "core/env_state.h"

#include "core/errors.h"

namespace shmkit {

EnvState* EnvState::Get(napi_env env) {
  void* data = nullptr;
  // Set at load (Install) for every environment that loaded the addon.
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<EnvState*>(data);
}

void EnvState::Install(Napi::Env env) {
  EnvState* state = new EnvState();
  // No instance-data finalizer: the cleanup hook alone frees the state, so
  // the two cannot run in an order that touches freed memory.
  Check(env, napi_set_instance_data(env, state, nullptr, nullptr), "napi_set_instance_data");
  Check(env, napi_add_env_cleanup_hook(env, Teardown, state), "napi_add_env_cleanup_hook");
}

uint32_t EnvState::Add(std::shared_ptr<TeardownResource> resource) {
  uint32_t id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;
  resources_[id] = std::move(resource);
  return id;
}

std::shared_ptr<TeardownResource> EnvState::Find(uint32_t id) {
  auto it = resources_.find(id);
  return it == resources_.end() ? nullptr : it->second;
}

// A reference is freed with its environment, so the last one needs no
// teardown of its own; one set before is deleted here.
void EnvState::set_error_factory(napi_env env, napi_ref factory) {
  if (error_factory_ != nullptr) (void)napi_delete_reference(env, error_factory_);  // it goes with the env anyway
  error_factory_ = factory;
}

void EnvState::Remove(uint32_t id) { resources_.erase(id); }

void EnvState::ReleaseAndRemove(uint32_t id) {
  if (auto resource = Find(id)) {
    resource->Release();
    Remove(id);
  }
}

void EnvState::Teardown(void* arg) {
  EnvState* state = static_cast<EnvState*>(arg);
  for (auto& entry : state->resources_) entry.second->Release();
  delete state;
}

}  // namespace shmkit

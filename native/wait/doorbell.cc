#include "wait/doorbell.h"

namespace shmkit {

int DoorbellBackend::ArmWord(uint64_t id, int32_t*, int32_t) {
  armed_.insert(id);
  return 0;
}

void DoorbellBackend::Disarm(uint64_t id) { armed_.erase(id); }

void DoorbellBackend::Drain(std::vector<Completion>* out) {
  bell_->TakeRing();
  rings_++;
  for (uint64_t id : armed_) out->push_back(Completion{id, WaitEnd::kWoken, 0, nullptr});
  armed_.clear();
}

}  // namespace shmkit

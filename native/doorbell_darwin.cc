// macOS: no doorbells (waits use the futex path only).
#include "doorbell.h"

namespace shmkit {

std::unique_ptr<Doorbell> Doorbell::Open() { return nullptr; }

bool RingDoorbell(uint32_t) { return false; }

void AdmitRingers(mode_t) {}

void SweepStaleDoorbells() {}

}  // namespace shmkit

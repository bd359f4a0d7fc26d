// macOS: no doorbells (waits use the futex path only).
#include "wait/doorbell.h"

namespace shmkit {

std::unique_ptr<Doorbell> Doorbell::Open() { return nullptr; }

bool RingDoorbell(uint32_t) { return false; }

void SweepStaleDoorbells() {}

}  // namespace shmkit

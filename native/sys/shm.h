// Shared-memory segments: thin wrappers over shm_open, ftruncate /
// posix_fallocate, fstat, mmap, munmap and shm_unlink. Names arrive validated
// and with their leading slash from lib/core/names.ts.
#pragma once
#include <napi.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <vector>

namespace shmkit {

// One mmap'd region. Owned jointly by the external ArrayBuffer's finalizer and
// the JS handle (a Napi::External); deleted when both have let go. `unmapped`
// is the run-once flag shared by close() and the GC finalizer: whichever runs
// first unmaps, the other does nothing (a second munmap could hit a newer
// mapping placed at the same address).
//
// Views (view()) are more external ArrayBuffers over parts of the mapping,
// each holding a reference: while one lives, collecting the main buffer does
// not unmap (the last view's finalizer does), and unmap() (close) detaches
// every live view first, so no view ever points at unmapped pages.
struct Mapping {
  static constexpr napi_type_tag kTypeTag = {0x7a3c1e5d9b2f4861, 0xc4e8a1f3b6d20957};
  static constexpr const char* kHandleName = "mapping handle";
  Mapping(void* start, size_t bytes) : addr(start), length(bytes) {}
  void* addr;
  size_t length;
  bool unmapped = false;
  bool buffer_collected = false;
  std::vector<napi_ref> views;  // weak references; touched on the JS thread only
  std::atomic<int> refs{2};

  void Unmap();
  void Unref();
};

// The group and other write bits of every object this process has created
// or opened: the users besides its own (and root) who may write one, and so
// may ring its doorbells (wait/doorbell.h).
mode_t ObjectWriteBits();
// `grown` is called, on the thread that created or opened the object,
// whenever ObjectWriteBits() gains bits. One listener (the doorbells').
void SetObjectWriteBitsListener(void (*grown)(mode_t bits));

// Grows a new segment to `size` bytes with real backing pages where the
// platform can (posix_fallocate on Linux: a full /dev/shm fails here with
// ENOSPC instead of raising SIGBUS on a later write). Returns 0 or an errno.
int AllocateSegment(int fd, size_t size);
extern const char* const kAllocateSyscall;

// Maps the pages of [start, start + length) into this process now, where the
// platform can (a ring's first pass otherwise takes a page fault per page).
void PopulatePages(void* start, size_t length);

void InitShm(Napi::Env env, Napi::Object exports);

// The Mapping behind a handle returned by map(), or nullptr after an error
// was thrown (wrong type).
Mapping* MappingFromHandle(const Napi::Value& handle);

// The live mapping that contains `addr`, or nullptr (memory shmkit did not map).
const Mapping* MappingAt(const void* addr);

}  // namespace shmkit

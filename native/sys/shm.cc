#include "sys/shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>
#include <string>

#include "core/env_state.h"
#include "core/errors.h"

namespace shmkit {

namespace {

std::atomic<mode_t> object_write_bits{0};
std::atomic<void (*)(mode_t)> object_write_bits_listener{nullptr};

// An object of mode `mode` is in use in this process.
void NoteObjectMode(mode_t mode) {
  mode_t more = mode & 0022;
  mode_t before = object_write_bits.fetch_or(more);
  if ((before | more) == before) return;
  if (auto grown = object_write_bits_listener.load()) grown(before | more);
}

}  // namespace

mode_t ObjectWriteBits() { return object_write_bits.load(); }

void SetObjectWriteBitsListener(void (*grown)(mode_t)) { object_write_bits_listener.store(grown); }

namespace {

// Every live mapping of the process by start address, so a wait on a word
// can name the mapping it is in (close() then ends it). Process-wide: the
// GC finalizer that unmaps may run on any thread at exit. Never freed.
std::mutex registry_mutex;
std::map<uintptr_t, const Mapping*>& Registry() {
  static auto* registry = new std::map<uintptr_t, const Mapping*>();
  return *registry;
}

}  // namespace

const Mapping* MappingAt(const void* addr) {
  auto at = reinterpret_cast<uintptr_t>(addr);
  std::lock_guard<std::mutex> guard(registry_mutex);
  auto it = Registry().upper_bound(at);
  if (it == Registry().begin()) return nullptr;
  --it;
  return at < it->first + it->second->length ? it->second : nullptr;
}

void Mapping::Unmap() {
  if (unmapped) return;
  unmapped = true;
  {
    std::lock_guard<std::mutex> guard(registry_mutex);
    Registry().erase(reinterpret_cast<uintptr_t>(addr));
  }
  munmap(addr, length);
}

void Mapping::Unref() {
  if (refs.fetch_sub(1) == 1) delete this;
}

namespace {

// shmOpen(name, create, exclusive, mode) -> fd
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  bool create = info[1].As<Napi::Boolean>();
  bool exclusive = info[2].As<Napi::Boolean>();
  mode_t mode = info[3].As<Napi::Number>().Uint32Value();
  int flags = O_RDWR | O_CLOEXEC;
  if (create) flags |= O_CREAT;
  if (exclusive) flags |= O_EXCL;
  int fd;
  do {
    fd = shm_open(name.c_str(), flags, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw ErrnoError(info.Env(), errno, "shm_open");
  return Napi::Number::New(info.Env(), fd);
}

// fchmod(fd, mode): sets the exact mode after creation, whatever the umask.
Napi::Value Fchmod(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  if (fchmod(fd, mode) != 0) throw ErrnoError(info.Env(), errno, "fchmod");
  NoteObjectMode(mode);
  return info.Env().Undefined();
}

// allocate(fd, size)
Napi::Value Allocate(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  int err = AllocateSegment(fd, size);
  if (err != 0) throw ErrnoError(info.Env(), err, kAllocateSyscall);
  return info.Env().Undefined();
}

// fstatSize(fd) -> size in bytes. Every open of an object passes here: the
// users its mode lets write it may ring this process's doorbells too
// (ObjectWriteBits).
Napi::Value FstatSize(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct stat st;
  if (fstat(fd, &st) != 0) throw ErrnoError(info.Env(), errno, "fstat");
  NoteObjectMode(st.st_mode);
  return Napi::Number::New(info.Env(), static_cast<double>(st.st_size));
}

// fileId(fd) -> "dev:ino": the same for every mapping of one object in this
// process, so waits on one word through different handles can meet
// (lib/sync/sleep-group.ts). Empty where the system gives no inode.
Napi::Value FileId(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct stat st;
  if (fstat(fd, &st) != 0) throw ErrnoError(info.Env(), errno, "fstat");
  if (st.st_ino == 0) return Napi::String::New(info.Env(), "");
  return Napi::String::New(info.Env(), std::to_string(static_cast<uint64_t>(st.st_dev)) + ":" +
                                           std::to_string(static_cast<uint64_t>(st.st_ino)));
}

// closeFd(fd)
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  // close() is not retried on EINTR: on Linux the descriptor is gone anyway.
  if (close(fd) != 0 && errno != EINTR) {
    throw ErrnoError(info.Env(), errno, "close");
  }
  return info.Env().Undefined();
}

// shmUnlink(name)
Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  if (shm_unlink(name.c_str()) != 0) {
    throw ErrnoError(info.Env(), errno, "shm_unlink");
  }
  return info.Env().Undefined();
}

void FinalizeBuffer(napi_env, void*, void* hint) {
  Mapping* mapping = static_cast<Mapping*>(hint);
  mapping->buffer_collected = true;
  if (mapping->views.empty()) mapping->Unmap();
  mapping->Unref();
}

struct View {
  Mapping* mapping;
  napi_ref ref;
};

void FinalizeView(napi_env env, void*, void* hint) {
  View* view = static_cast<View*>(hint);
  Mapping* mapping = view->mapping;
  auto& views = mapping->views;
  for (auto it = views.begin(); it != views.end(); ++it) {
    if (*it == view->ref) {
      views.erase(it);
      break;
    }
  }
  // A finalizer has no one to report to; a view whose reference was never made has none to delete.
  if (view->ref != nullptr) (void)napi_delete_reference(env, view->ref);
  delete view;
  if (mapping->buffer_collected && mapping->views.empty()) mapping->Unmap();
  mapping->Unref();
}

void FinalizeHandle(Napi::Env, Mapping* mapping) { mapping->Unref(); }

// Detaches every view still alive (close): a copy of the list, since Node
// 20 may run a view's finalizer, which edits it, inside Detach().
void DetachViews(napi_env env, Mapping* mapping) {
  std::vector<napi_ref> views = mapping->views;
  for (napi_ref ref : views) {
    if (std::find(mapping->views.begin(), mapping->views.end(), ref) == mapping->views.end())
      continue;  // finalized meanwhile
    napi_value value;
    if (napi_get_reference_value(env, ref, &value) != napi_ok || value == nullptr) continue;
    bool detached = false;
    // A view left attached would point at unmapped pages: refuse the close instead.
    Check(env, napi_is_detached_arraybuffer(env, value, &detached), "napi_is_detached_arraybuffer");
    if (!detached) Check(env, napi_detach_arraybuffer(env, value), "napi_detach_arraybuffer");
  }
}

// map(fd, size) -> [ArrayBuffer, handle]
// The ArrayBuffer is external and detachable: unmap() detaches it first, so
// every view of it drops to length 0 instead of pointing at unmapped pages.
Napi::Value Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) throw ErrnoError(env, errno, "mmap");

  Mapping* mapping = new Mapping(addr, size);
  {
    std::lock_guard<std::mutex> guard(registry_mutex);
    Registry()[reinterpret_cast<uintptr_t>(addr)] = mapping;
  }
  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(env, addr, size, FinalizeBuffer, mapping, &buffer);
  if (status != napi_ok) {
    mapping->Unmap();
    delete mapping;
    if (status == napi_no_external_buffers_allowed) {
      throw CodeError(env, "ERR_SHM_EXTERNAL_BUFFERS",
                      "this runtime forbids external ArrayBuffers (Electron "
                      "21+ sandbox); shmkit cannot map shared memory here");
    }
    // V8 refused the buffer (too large for this runtime: lib/ checks sizes
    // first, this is the last guard): rethrow what it said, never abort.
    if (status == napi_pending_exception) throw Napi::Error::New(env);
    throw StatusError(env, status, "napi_create_external_arraybuffer");
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Value(env, buffer));
  result.Set(1u, Napi::External<Mapping>::New(env, mapping, FinalizeHandle));
  return result;
}

// unmap(handle, arrayBuffer): end the waits on it, detach, then unmap
// exactly once.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Mapping* mapping = MappingFromHandle(info[0]);
  Napi::ArrayBuffer buffer = info[1].As<Napi::ArrayBuffer>();
  if (mapping->unmapped) return info.Env().Undefined();
  EnvState::Get(info.Env())->EndWaitsOf(mapping);
  // Node 20 may run the buffer's finalizer inside Detach(); the run-once flag
  // and the handle's own reference keep `mapping` alive and unmapped once.
  if (!buffer.IsDetached()) buffer.Detach();
  DetachViews(info.Env(), mapping);
  mapping->Unmap();
  return info.Env().Undefined();
}

// view(handle, offset, length) -> ArrayBuffer over [offset, offset + length)
// of the mapping (lib/ checks the range), detachable on its own.
Napi::Value View_(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* mapping = MappingFromHandle(info[0]);
  size_t offset = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  size_t length = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
  if (mapping->unmapped || offset > mapping->length || length > mapping->length - offset) {
    throw CodeError(env, "ERR_SHM_CLOSED", "the segment is closed");
  }
  View* view = new View{mapping, nullptr};
  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(env, static_cast<char*>(mapping->addr) + offset, length,
                                                        FinalizeView, view, &buffer);
  if (status != napi_ok) {
    delete view;
    if (status == napi_pending_exception) throw Napi::Error::New(env);
    throw StatusError(env, status, "napi_create_external_arraybuffer");
  }
  mapping->refs.fetch_add(1);  // the buffer's finalizer gives it back, whatever happens below
  Check(env, napi_create_reference(env, buffer, 0, &view->ref), "napi_create_reference");
  mapping->views.push_back(view->ref);
  return Napi::Value(env, buffer);
}

// populate(handle, offset, length): map those pages now (lib/ checks the range).
Napi::Value Populate(const Napi::CallbackInfo& info) {
  Mapping* mapping = MappingFromHandle(info[0]);
  size_t offset = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  size_t length = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
  if (!mapping->unmapped && offset <= mapping->length && length <= mapping->length - offset) {
    PopulatePages(static_cast<char*>(mapping->addr) + offset, length);
  }
  return info.Env().Undefined();
}

// populateBytes(uint8Array): map the pages of a fresh JS buffer now, before
// a large copy into it touches them one fault at a time (lib/channel/ring.ts).
Napi::Value PopulateBytes(const Napi::CallbackInfo& info) {
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  if (bytes.ByteLength() > 0) PopulatePages(bytes.Data(), bytes.ByteLength());
  return info.Env().Undefined();
}

// detach(arrayBuffer): a view's bytes become unreachable (length 0).
Napi::Value Detach(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  if (!buffer.IsDetached()) buffer.Detach();
  return info.Env().Undefined();
}

}  // namespace

Mapping* MappingFromHandle(const Napi::Value& handle) { return handle.As<Napi::External<Mapping>>().Data(); }

void InitShm(Napi::Env env, Napi::Object exports) {
  exports.Set("shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen"));
  exports.Set("fchmod", Napi::Function::New(env, Fchmod, "fchmod"));
  exports.Set("allocate", Napi::Function::New(env, Allocate, "allocate"));
  exports.Set("fstatSize", Napi::Function::New(env, FstatSize, "fstatSize"));
  exports.Set("fileId", Napi::Function::New(env, FileId, "fileId"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  exports.Set("map", Napi::Function::New(env, Map, "map"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
  exports.Set("view", Napi::Function::New(env, View_, "view"));
  exports.Set("detach", Napi::Function::New(env, Detach, "detach"));
  exports.Set("populate", Napi::Function::New(env, Populate, "populate"));
  exports.Set("populateBytes", Napi::Function::New(env, PopulateBytes, "populateBytes"));
}

}  // namespace shmkit

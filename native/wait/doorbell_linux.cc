#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <string>

#include "sys/shm.h"
#include "wait/doorbell.h"

namespace shmkit {

namespace {

constexpr char kDirectory[] = "/dev/shm/";
constexpr char kPrefix[] = ".shmkit-bell-";

// The address of the doorbell file at `path` (shorter than sun_path).
socklen_t AddressOf(const char* path, sockaddr_un* address) {
  std::memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  int length = std::snprintf(address->sun_path, sizeof(address->sun_path), "%s", path);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length + 1);
}

// Doorbell `id`'s address, /dev/shm/.shmkit-bell-<id>, written in place: a
// ring allocates nothing.
socklen_t AddressOf(uint32_t id, sockaddr_un* address) {
  std::memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  int length = std::snprintf(address->sun_path, sizeof(address->sun_path), "%s%s%08x", kDirectory, kPrefix, id);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length + 1);
}

// Its own uid (and root), and who may write an object this process uses.
mode_t SocketMode() { return 0600 | ObjectWriteBits(); }

// This process's doorbell files: re-chmodded when ObjectWriteBits() grows, removed
// at exit(). Never destroyed: an environment's teardown may come after
// static destructors.
std::mutex& open_paths_mutex = *new std::mutex;
std::set<std::string>& open_paths = *new std::set<std::string>;

// process.exit() and an uncaught exception end the process through exit(),
// before environments are torn down: remove the files here.
void RemoveOpenDoorbells() {
  std::lock_guard<std::mutex> hold(open_paths_mutex);
  for (const std::string& path : open_paths) unlink(path.c_str());
}

// An object this process uses lets more users write it: they may ring too.
void WidenOpenDoorbells(mode_t) {
  std::lock_guard<std::mutex> hold(open_paths_mutex);
  for (const std::string& path : open_paths) chmod(path.c_str(), SocketMode());
}

}  // namespace

// A doorbell file whose process died (SIGKILL skips the destructor and exit
// handlers) has no socket bound to it: a connect says ECONNREFUSED. Only our
// own uid's are ours to remove (root's sweep removes any).
void SweepStaleDoorbells() {
  DIR* dir = opendir(kDirectory);
  if (dir == nullptr) return;
  int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  uid_t me = geteuid();
  while (dirent* entry = readdir(dir)) {
    if (std::strncmp(entry->d_name, kPrefix, sizeof(kPrefix) - 1) != 0) continue;
    std::string path = std::string(kDirectory) + entry->d_name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) || (me != 0 && st.st_uid != me)) continue;
    sockaddr_un address;
    socklen_t length = AddressOf(path.c_str(), &address);
    if (probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&address), length) != 0 && errno == ECONNREFUSED)
      unlink(path.c_str());
  }
  if (probe >= 0) close(probe);
  closedir(dir);
}

namespace {

class SocketDoorbell : public Doorbell {
 public:
  SocketDoorbell(int fd, uint32_t id, std::string path) : fd_(fd), id_(id), path_(std::move(path)) {
    std::lock_guard<std::mutex> hold(open_paths_mutex);
    open_paths.insert(path_);
  }
  ~SocketDoorbell() override {
    {
      std::lock_guard<std::mutex> hold(open_paths_mutex);
      open_paths.erase(path_);
    }
    unlink(path_.c_str());
    close(fd_);
  }
  uint32_t id() const override { return id_; }
  int fd() const override { return fd_; }
  void TakeRing() override {
    char ring;
    recv(fd_, &ring, sizeof(ring), MSG_DONTWAIT);
  }

 private:
  int fd_;
  uint32_t id_;
  std::string path_;
};

}  // namespace

std::unique_ptr<Doorbell> Doorbell::Open() {
  static std::once_flag first;
  std::call_once(first, [] {
    SweepStaleDoorbells();
    std::atexit(RemoveOpenDoorbells);
    SetObjectWriteBitsListener(WidenOpenDoorbells);
  });
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  // bind creates the file with the socket's own mode (less the umask): set
  // it first, so the file is never open to more than its owner, even briefly.
  fchmod(fd, 0600);
  std::random_device random;
  for (int attempt = 0; attempt < 16; attempt++) {
    uint32_t id = random();
    if (id < kFirstDoorbellId) continue;
    sockaddr_un address;
    socklen_t length = AddressOf(id, &address);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0) {
      std::string path = address.sun_path;
      auto bell = std::make_unique<SocketDoorbell>(fd, id, path);
      if (SocketMode() != 0600) chmod(path.c_str(), SocketMode());
      return bell;
    }
    if (errno != EADDRINUSE) break;
  }
  close(fd);
  return nullptr;
}

bool RingDoorbell(uint32_t id) {
  // One unbound sending socket for the whole process (sendto is thread-safe).
  static int sender = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sender < 0 || id < kFirstDoorbellId) return false;
  sockaddr_un address;
  socklen_t length = AddressOf(id, &address);
  char ring = 1;
  if (sendto(sender, &ring, 1, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address), length) == 1)
    return true;
  return errno == EAGAIN;
}

}  // namespace shmkit

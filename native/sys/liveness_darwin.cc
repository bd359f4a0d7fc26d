// macOS has no OFD locks, and flock() does not work on POSIX shared-memory
// descriptors, so a token's liveness is an flock() held on a token file
// (docs/design.md, "Owner liveness"): /tmp/.shmkit-tokens/<segment>.<token>, mode 0644,
// in a sticky world-writable directory so processes of every user can check
// it. The hazards the prototype found, and what this code does about them:
//  - create-then-lock leaves a moment when a new file looks dead: the file is
//    created and locked under a temporary name, then link()ed into place;
//  - a killed process leaves its file behind: whoever takes that token again
//    finds it unlocked and replaces it;
//  - a token file deleted by hand (or by a /tmp cleaner) reads as dead.
// Written from the manuals (flock(2), link(2), mkstemp(3)); the Linux build
// machines cannot run it, the macOS CI job does.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <unordered_map>

#include "sys/liveness.h"

namespace shmkit {

namespace {

const char kDir[] = "/tmp/.shmkit-tokens";

// The segment name behind `fd` is not recoverable on macOS, so the JS layer
// passes it in through LivenessSetName before each acquire/check.
thread_local std::string current_name;

// The token file behind each held descriptor, to remove it at release.
std::mutex held_mutex;
std::unordered_map<int, std::string> held_paths;

std::string TokenPath(uint32_t token) { return std::string(kDir) + "/" + current_name + "." + std::to_string(token); }

int EnsureDir() {
  if (mkdir(kDir, 01777) != 0 && errno != EEXIST) return errno;
  chmod(kDir, 01777);  // mkdir applies the umask; the sticky bit must stay
  return 0;
}

// True if the file at `path` exists and nobody holds its lock.
bool IsStale(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  bool stale = flock(fd, LOCK_SH | LOCK_NB) == 0;
  close(fd);
  return stale;
}

}  // namespace

void LivenessSetName(const std::string& name) { current_name = name; }

int LivenessAcquire(int, uint32_t token, int* held) {
  if (int err = EnsureDir()) return err;
  std::string path = TokenPath(token);
  std::string temp = std::string(kDir) + "/.new.XXXXXX";
  int fd = mkstemp(&temp[0]);
  if (fd < 0) return errno;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  fchmod(fd, 0644);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    unlink(temp.c_str());
    return err;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    if (link(temp.c_str(), path.c_str()) == 0) {
      unlink(temp.c_str());
      std::lock_guard<std::mutex> guard(held_mutex);
      held_paths[fd] = path;
      *held = fd;
      return 0;
    }
    if (errno != EEXIST || !IsStale(path)) break;
    unlink(path.c_str());  // a killed holder's file: take its place
  }
  int err = errno == EEXIST ? EAGAIN : errno;
  close(fd);
  unlink(temp.c_str());
  return err;
}

void LivenessRelease(int held) {
  // While we hold its lock the file is ours (no one replaces a locked file):
  // remove it, then drop the lock. A killed process cannot do this; its file
  // reads as dead and is replaced by the next taker of that token.
  {
    std::lock_guard<std::mutex> guard(held_mutex);
    auto it = held_paths.find(held);
    if (it != held_paths.end()) {
      unlink(it->second.c_str());
      held_paths.erase(it);
    }
  }
  close(held);
}

// shmkit gc lists /dev/shm and runs on Linux only.
int LivenessExcludeAll(int, std::vector<uint32_t>) { return ENOTSUP; }

int LivenessAlive(int, uint32_t token) {
  std::string path = TokenPath(token);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -errno;
  int alive = flock(fd, LOCK_SH | LOCK_NB) == 0 ? 0 : (errno == EWOULDBLOCK ? 1 : -errno);
  close(fd);  // also drops the shared lock we may just have taken
  return alive;
}

}  // namespace shmkit

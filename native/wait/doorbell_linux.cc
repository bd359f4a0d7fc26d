#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>

#include "wait/doorbell.h"

namespace shmkit {

namespace {

socklen_t AddressOf(uint32_t id, sockaddr_un* address) {
  std::memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  // sun_path[0] = 0: the abstract namespace.
  int length = std::snprintf(address->sun_path + 1, sizeof(address->sun_path) - 1, "shmkit-bell-%08x", id);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + length);
}

class SocketDoorbell : public Doorbell {
 public:
  SocketDoorbell(int fd, uint32_t id) : fd_(fd), id_(id) {}
  ~SocketDoorbell() override { close(fd_); }
  uint32_t id() const override { return id_; }
  int fd() const override { return fd_; }
  void TakeRing() override {
    char ring;
    recv(fd_, &ring, sizeof(ring), MSG_DONTWAIT);
  }

 private:
  int fd_;
  uint32_t id_;
};

}  // namespace

std::unique_ptr<Doorbell> Doorbell::Open() {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  std::random_device random;
  for (int attempt = 0; attempt < 16; attempt++) {
    uint32_t id = random();
    if (id < kFirstDoorbellId) continue;
    sockaddr_un address;
    socklen_t length = AddressOf(id, &address);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0) return std::make_unique<SocketDoorbell>(fd, id);
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

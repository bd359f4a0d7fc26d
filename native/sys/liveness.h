// Owner liveness for cross-process locks (docs/design.md, "Owner liveness"). Each open
// handle of a lock-bearing segment holds a token; the token is alive exactly
// as long as a lock the kernel drops when the holder's process dies.
// Linux: an OFD byte-range lock on the segment's own file at 2^40 + token.
// macOS: flock() on a token file per segment and token.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shmkit {

// Takes the liveness lock for `token` through `fd` (the platform file may
// duplicate it). Returns 0 or an errno (EAGAIN: another handle holds that
// token; EBUSY: a lock over every token's byte is held, `shmkit gc` deciding
// whether to remove the object: try again shortly). `*held` receives what
// LivenessRelease / LivenessAlive need. Linux also sets the file's mtime to
// now, here and at release: an object's age is the time since it was last
// opened or closed (docs/design.md, "Removing unused objects").
int LivenessAcquire(int fd, uint32_t token, int* held);

// Takes a write lock over every token's byte at once through `fd` (open for
// writing), held until `fd` is closed: 0 if taken (no handle holds a token,
// and none can take one meanwhile), EAGAIN if some handle holds its token,
// or another errno (ENOTSUP on macOS, where gc does not run). The bytes of
// the tokens in `except` (handles of the caller's own, which a Scope lets
// stay open) are left out: the lock is then taken piece by piece, between
// them; pieces already taken when one fails stay held until `fd` closes.
int LivenessExcludeAll(int fd, std::vector<uint32_t> except);

// Drops the liveness lock (closing what LivenessAcquire kept).
void LivenessRelease(int held);

// 1 if some handle holds `token`'s liveness lock, 0 if none does, -errno on
// failure. `held` is the caller's own liveness descriptor.
int LivenessAlive(int held, uint32_t token);

// LivenessAlive asked through the token `id` that livenessAcquire returned
// in this environment, for the segment `name`: 1, 0, or -errno (-EBADF if
// that token was released: its handle is closed).
int LivenessAliveById(Napi::Env env, uint32_t id, uint32_t token, const std::string& name);

#ifdef __APPLE__
// macOS keys token files by segment name (liveness_darwin.cc).
void LivenessSetName(const std::string& name);
#endif

void InitLiveness(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

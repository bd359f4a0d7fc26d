// The adaptive spinning rule of every wait site (lib/sync/waiting.ts
// Spinner; docs/design.md, "Adaptive spinning"): how long to spin before a
// sleep, from how the site's recent waits went. In the addon so that a
// receive done in one native call (native/channel/pipe_end.cc) follows the same
// rule as the waits driven from lib/.
#pragma once
#include <napi.h>

#include <cstdint>

namespace shmkit {

// A wait site's counters: layout::kSpinnerWords int32 words that the
// Spinner in lib/ owns (over an ArrayBuffer of its own, whose memory V8
// does not move).

// Milliseconds to spin now (0: sleep at once), before a doorbell sleep or a futex sleep.
double SpinBudget(int32_t* state, bool doorbell);

// Records how long a wait took, spin and sleep.
void SpinWaited(int32_t* state, double ms);

// Records how a spin ended: it caught the change, or it ran out and the wait must sleep.
void SpinSpun(int32_t* state, bool caught);
// A futex site whose peer was just found awake (a message it sent woke no
// one): its next wait spins, even if long waits had stopped its spinning.
void SpinPeerAwake(int32_t* state);

// The counters behind a Spinner's Int32Array, or a throw if it is too short.
int32_t* SpinnerState(const Napi::Value& value);

void InitSpinner(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

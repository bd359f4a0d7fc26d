#include "wait/spinner.h"

#include "core/errors.h"
#include "core/layout.h"

namespace shmkit {

namespace {

// The longest spin: a few wake-up costs on the machines measured (15-80 us).
constexpr double kMaxMs = 0.1;
// This many long waits, or fruitless spins, in a row stop the spinning.
constexpr int32_t kStreak = 3;
// A futex site's probe: longer than a wake-up of a sleeping peer (60-170 us
// on the VMs measured), so that it catches the answer of a peer that sleeps
// too, where a probe of kMaxMs missed it and both stayed asleep.
constexpr double kProbeMs = 0.5;
// While a site has stopped, every this many waits spin again, to notice a busy peer.
constexpr int32_t kProbeEvery = 8;

// The counters' words (layout.h): kLongWaits, waits in a row longer than
// kMaxMs (futex sites); kMisses, spins in a row that caught nothing
// (doorbell sites); kWaits, waits since the site stopped, for the probe.
using namespace layout;

// A streak only counts up to kStreak: all the rule asks is whether it got there.
int32_t Longer(int32_t streak) { return streak < kStreak ? streak + 1 : kStreak; }

// spinBudget(state, doorbell) -> ms
Napi::Value Budget(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), SpinBudget(SpinnerState(info[0]), info[1].ToBoolean()));
}

// spinWaited(state, ms)
Napi::Value Waited(const Napi::CallbackInfo& info) {
  SpinWaited(SpinnerState(info[0]), info[1].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}

// spinSpun(state, caught)
Napi::Value Spun(const Napi::CallbackInfo& info) {
  SpinSpun(SpinnerState(info[0]), info[1].ToBoolean());
  return info.Env().Undefined();
}

}  // namespace

double SpinBudget(int32_t* state, bool doorbell) {
  bool stopped = doorbell ? state[kMisses] >= kStreak : state[kLongWaits] >= kStreak;
  if (!stopped) return kMaxMs;
  state[kWaits] = (state[kWaits] + 1) % kProbeEvery;
  if (state[kWaits] != 0) return 0;
  return doorbell ? kMaxMs : kProbeMs;
}

void SpinWaited(int32_t* state, double ms) { state[kLongWaits] = ms > kMaxMs ? Longer(state[kLongWaits]) : 0; }

void SpinSpun(int32_t* state, bool caught) { state[kMisses] = caught ? 0 : Longer(state[kMisses]); }

// One spin, not a reset: a peer that is awake but slow to answer stops the
// spinning again after one long wait. Without it, two sides that both
// stopped spinning stay asleep for good: each one's probe catches an answer
// that a sleeping peer's wake-up made slow, so no probe ever counts as short
// (docs/design.md, "Messages").
void SpinPeerAwake(int32_t* state) {
  if (state[kLongWaits] >= kStreak) state[kLongWaits] = kStreak - 1;
}

int32_t* SpinnerState(const Napi::Value& value) {
  Napi::Int32Array words = value.As<Napi::Int32Array>();
  if (words.ElementLength() < static_cast<size_t>(kSpinnerWords)) {
    throw CodeError(value.Env(), "ERR_SHM_INVALID_ARG", "a spinner's state has three words");
  }
  return words.Data();
}

void InitSpinner(Napi::Env env, Napi::Object exports) {
  exports.Set("spinBudget", Napi::Function::New(env, Budget, "spinBudget"));
  exports.Set("spinWaited", Napi::Function::New(env, Waited, "spinWaited"));
  exports.Set("spinSpun", Napi::Function::New(env, Spun, "spinSpun"));
}

}  // namespace shmkit

#include "sys/exit_signals.h"

#include <signal.h>

#include <atomic>
#include <cerrno>

#include "core/errors.h"

namespace shmkit {

namespace {

// Signals 1 .. 31: the three lib/ hooks are 1 (SIGHUP), 2 (SIGINT) and 15 (SIGTERM).
constexpr int kSignals = 32;

// Bit n: signal n arrived since JS last asked.
std::atomic<uint32_t> pending{0};
// The disposition each signal had before lib/ first listened to it.
struct sigaction original[kSignals];
bool saved[kSignals];
// The handler the latch passes each signal on to (libuv's, for the JS listeners).
struct sigaction next[kSignals];

bool Known(int signum) { return signum > 0 && signum < kSignals; }

void Latch(int signum, siginfo_t* info, void* context) {
  pending.fetch_or(1u << signum);
  const struct sigaction& to = next[signum];
  if (to.sa_flags & SA_SIGINFO) {
    if (to.sa_sigaction != nullptr) to.sa_sigaction(signum, info, context);
  } else if (to.sa_handler != SIG_DFL && to.sa_handler != SIG_IGN && to.sa_handler != nullptr) {
    to.sa_handler(signum);
  }
}

bool IsLatch(const struct sigaction& action) { return (action.sa_flags & SA_SIGINFO) && action.sa_sigaction == Latch; }

int SignalNumber(const Napi::CallbackInfo& info) {
  int signum = info[0].As<Napi::Number>().Int32Value();
  if (!Known(signum)) throw CodeError(info.Env(), "ERR_SHM_NATIVE", "signal number out of range");
  return signum;
}

// signalSave(signum, keep) -> false if the signal is ignored now (nothing to
// hook: it would not end the process), else true. Called before lib/ adds
// its JS listener. With `keep` (no JS listener exists yet) the disposition
// is kept for signalRestore; without (the program listens already, so what
// is installed is libuv's, which libuv itself replaces by the default when
// the last listener goes) nothing is kept.
Napi::Value Save(const Napi::CallbackInfo& info) {
  int signum = SignalNumber(info);
  bool keep = info[1].As<Napi::Boolean>();
  struct sigaction now = {};
  if (sigaction(signum, nullptr, &now) != 0) throw ErrnoError(info.Env(), errno, "sigaction");
  if (!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN) return Napi::Boolean::New(info.Env(), false);
  if (!IsLatch(now)) {
    original[signum] = now;
    saved[signum] = keep;
  }
  return Napi::Boolean::New(info.Env(), true);
}

// signalLatch(signum): puts the latch in front of the handler installed now
// (libuv's, once a JS listener exists). Does nothing if none is installed.
Napi::Value LatchJs(const Napi::CallbackInfo& info) {
  int signum = SignalNumber(info);
  struct sigaction now = {};
  if (sigaction(signum, nullptr, &now) != 0) throw ErrnoError(info.Env(), errno, "sigaction");
  if (IsLatch(now)) return info.Env().Undefined();
  if (!(now.sa_flags & SA_SIGINFO) && (now.sa_handler == SIG_DFL || now.sa_handler == SIG_IGN)) {
    return info.Env().Undefined();  // nothing to pass the signal on to: leave it as it is
  }
  next[signum] = now;  // written before the latch can run
  struct sigaction latch = {};
  latch.sa_sigaction = Latch;
  latch.sa_flags = SA_SIGINFO | SA_RESTART | (now.sa_flags & SA_ONSTACK);
  // Every signal blocked while it runs, as libuv blocks them around its own
  // handler: that handler takes a lock, and must not be entered again from
  // a second signal's latch on the same thread.
  sigfillset(&latch.sa_mask);
  if (sigaction(signum, &latch, nullptr) != 0) throw ErrnoError(info.Env(), errno, "sigaction");
  return info.Env().Undefined();
}

// signalPending() -> the bits of the signals latched since the last call (cleared).
Napi::Value Pending(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pending.exchange(0)); }

// signalRestore(signum): the disposition signalSave kept, if any.
Napi::Value Restore(const Napi::CallbackInfo& info) {
  int signum = SignalNumber(info);
  if (saved[signum] && sigaction(signum, &original[signum], nullptr) != 0) {
    throw ErrnoError(info.Env(), errno, "sigaction");
  }
  return info.Env().Undefined();
}

}  // namespace

void InitExitSignals(Napi::Env env, Napi::Object exports) {
  exports.Set("signalSave", Napi::Function::New(env, Save, "signalSave"));
  exports.Set("signalLatch", Napi::Function::New(env, LatchJs, "signalLatch"));
  exports.Set("signalPending", Napi::Function::New(env, Pending, "signalPending"));
  exports.Set("signalRestore", Napi::Function::New(env, Restore, "signalRestore"));
}

}  // namespace shmkit

// What a process does with SIGINT, SIGTERM and SIGHUP while it has names to
// remove when it ends (lib/core/lifetime.ts; docs/design.md, "Lifetime of
// names"). lib/ listens for them in JS; this part only keeps what JS cannot:
//   - the disposition a signal had before shmkit listened, so that once the
//     names are removed the signal ends the process as it would have
//     (Node's own handler for SIGINT/SIGTERM, the default, or nothing when
//     the signal is ignored, as under nohup);
//   - a latch set by every such signal, passed on to the handler libuv
//     installed for the JS listeners, which a thread blocked in a sync wait
//     (where no JS listener can run) reads between its sleep slices.
#pragma once
#include <napi.h>

namespace shmkit {

void InitExitSignals(Napi::Env env, Napi::Object exports);

}  // namespace shmkit

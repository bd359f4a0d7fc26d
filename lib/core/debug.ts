// NODE_DEBUG=shmkit: one line on stderr per event that helps a user see what
// their processes do to shared objects (create, open, close, unlink, a lock
// taken over from a dead holder, a wait that timed out). Silent, and nothing
// formatted, otherwise.
import { debuglog } from 'node:util';

const log = debuglog('shmkit');

/** Logs `event what "name" (detail)`, prefixed by Node with `SHMKIT <pid>:`. */
export function trace(event: string, what: string, name: string, detail?: string): void {
  if (!log.enabled) return;
  log('%s %s %s%s', event, what, JSON.stringify(name), detail === undefined ? '' : ` (${detail})`);
}

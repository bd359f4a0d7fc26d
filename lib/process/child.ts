// The child of a Process: a separate node process started with the name of
// its Pipe (as a Pool worker is). It reads what to run, reopens the handles
// its arguments name, says READY, runs the target once, sends back its
// result or exception, and exits (0, or 1 if the target threw, as Python's).
import { fileURLToPath } from 'node:url';
import { Pipe } from '../channel/pipe.js';
import { setIdentity } from '../core/current.js';
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { native } from '../core/native.js';
import { unlinkSegment } from '../core/segment.js';
import { describeHandles } from '../core/transfer.js';
import { openHandles, preloadHandleKinds } from '../pool/handle-kinds.js';
import { canClone, crossingError, recordError, Status } from '../pool/protocol.js';
import type { ProcessSetup } from './process.js';

type Target = (...args: unknown[]) => unknown;

async function load(setup: ProcessSetup): Promise<{ target: Target; args: unknown[] }> {
  const module = (await import(setup.module)) as Record<string, unknown>;
  const target = module[setup.target];
  if (typeof target !== 'function') {
    const has = target === undefined ? '' : ` (its export is ${describeValue(target)})`;
    throw invalidArg(`the module ${fileURLToPath(setup.module)} has no exported function ${JSON.stringify(setup.target)}${has}`);
  }
  const args = setup.handles ? await openHandles(setup.args) : setup.args;
  return { target: target as Target, args };
}

/** Sends the target's value; one that cannot travel becomes its error, in terms of the Process's options. */
function sendResult(pipe: Pipe<unknown[]>, setup: ProcessSetup, result: unknown): void {
  try {
    const value = describeHandles(result);
    pipe.sendSync([value === result ? Status.ok : Status.okHandles, value]);
  } catch (err) {
    const why = crossingError(err, `the result of ${JSON.stringify(setup.target)}`, setup.capacity, result);
    pipe.sendSync([Status.failed, recordError(why, canClone)]);
  }
}

/** Makes this process's environment `env` (a spare child was started with the parent's environment of then). */
function takeEnv(env: NodeJS.ProcessEnv): void {
  for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
  Object.assign(process.env, env);
}

/**
 * Runs the child; resolves with its exit code. `mode`: 'daemon' (dies with
 * its parent), '' (does not), or 'spare' (started ahead: its setup says).
 */
async function main(pipeName: string, parentPid: number, mode: string): Promise<number> {
  // Armed, then checked: the parent may have died before.
  if (mode === 'daemon') native.exitWithParent();
  const pipe = Pipe.open<unknown[]>(pipeName, { timeout: 10_000 });
  // Both ends are open: the name can go, and nothing is left in /dev/shm whichever process dies first.
  try {
    unlinkSegment(pipeName);
  } catch {
    // the parent removed it already
  }
  if (mode === 'daemon' && process.ppid !== parentPid) return 0;
  // A spare has time before its work comes: the classes of the handles an argument may name are loaded then.
  if (mode === 'spare') await preloadHandleKinds();
  // A spare waits here, maybe long: if its parent dies meanwhile this ends with end-of-stream.
  const setup = (await pipe.recv()) as unknown as ProcessSetup;
  if (mode === 'spare') {
    if (setup.daemon) native.exitWithParent();
    if (setup.daemon && process.ppid !== parentPid) return 0;
    if (setup.env !== undefined) takeEnv(setup.env);
  }
  setIdentity(setup.name, setup.parent);
  let loaded: { target: Target; args: unknown[] };
  try {
    loaded = await load(setup);
  } catch (err) {
    pipe.sendSync([Status.fatal, recordError(err, canClone)]);
    return 1;
  }
  pipe.sendSync([Status.ready]);
  let result: unknown;
  try {
    result = await loaded.target(...loaded.args);
  } catch (err) {
    pipe.sendSync([Status.failed, recordError(err, canClone)]);
    return 1;
  }
  sendResult(pipe, setup, result);
  return 0;
}

const [pipeName, parentPid, mode] = process.argv.slice(2);
if (pipeName === undefined || parentPid === undefined) {
  process.stderr.write('shmkit process: started without a pipe name (it is started by Process, not by hand)\n');
  process.exit(2);
}
try {
  // Python's rule: the process ends when its target returns, timers and sockets left open or not.
  process.exit(await main(pipeName, Number(parentPid), mode ?? ''));
} catch (err) {
  // The parent closed its end or died: a normal way to end.
  if (err instanceof ShmError && (err.code === ErrorCodes.PIPE_CLOSED || err.code === ErrorCodes.CLOSED)) process.exit(0);
  throw err;
}

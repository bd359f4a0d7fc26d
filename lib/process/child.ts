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

/** How often a daemon child looks for its parent where the kernel cannot end it with the parent (macOS). */
const PARENT_CHECK_MS = 100;

/**
 * Ties this process to its parent: the kernel kills it when the parent dies
 * (Linux), else it looks every PARENT_CHECK_MS. False if the parent is gone already.
 */
function dieWithParent(parentPid: number): boolean {
  if (!native.exitWithParent()) {
    const timer = setInterval(() => {
      if (process.ppid !== parentPid) process.exit(0);
    }, PARENT_CHECK_MS);
    timer.unref();
  }
  // Armed, then checked: the parent may have died before.
  return process.ppid === parentPid;
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
  const parentAlive = mode !== 'daemon' || dieWithParent(parentPid);
  const pipe = Pipe.open<unknown[]>(pipeName, { timeout: 10_000 });
  // Both ends are open: the name can go, and nothing is left in /dev/shm whichever process dies first.
  try {
    unlinkSegment(pipeName);
  } catch {
    // the parent removed it already
  }
  if (!parentAlive) return 0;
  // A spare has time before its work comes: the classes of the handles an argument may name are loaded then.
  if (mode === 'spare') await preloadHandleKinds();
  // A spare waits here, maybe long: if its parent dies meanwhile this ends with end-of-stream.
  const setup = (await pipe.recv()) as unknown as ProcessSetup;
  if (mode === 'spare') {
    if (setup.daemon && !dieWithParent(parentPid)) return 0;
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

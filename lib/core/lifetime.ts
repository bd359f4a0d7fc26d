// When names go away (docs/design.md, "Lifetime of names"): the one
// procedure that removes a name on a program's behalf (removeName), the
// names to remove when the process ends (`unlinkOnExit`, and every open
// Scope's), and the hooks that run them: process 'exit', and SIGINT, SIGTERM
// and SIGHUP, after which the signal ends the process as it would have
// without shmkit, unless the program listens for it itself.
import { statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { trace } from './debug.js';
import { ErrorCodes, fromNative, hasCode, ShmError } from './errors.js';
import { systemName } from './names.js';
import { native } from './native.js';
import type { Scope } from './scope.js';
import { nameLeadsTo } from './segment.js';

/** The key under which a shmkit handle says what a Scope or `unlinkOnExit` needs of it. */
export const MEMBER: unique symbol = Symbol('shmkit.member');

/** What removing a handle's name needs to know of it. */
export interface Member {
  /** The name, without a leading slash. */
  readonly name: string;
  /** Where the name lives: shared-memory segments (shm_unlink) or POSIX semaphores (sem_unlink). */
  readonly namespace: 'segment' | 'semaphore';
  /** The object's file ("dev:ino"), so that a name taken by another object since is never removed; '' where unknown. */
  readonly identity: string;
  /** The kind, for messages ('Queue', 'SharedMemory', ...). */
  readonly what: string;
  /** Whether its handles hold liveness tokens (a Scope can tell whether another process holds it). */
  readonly tokens: boolean;
  /** This handle's token while it is open, else undefined. */
  token(): number | undefined;
  readonly closed: boolean;
  close(): void;
}

/** A shmkit handle: it can say what removing its name needs. */
export interface HasMember {
  [MEMBER](): Member;
}

/** What became of a name that was to be removed: removed now, gone already (or another object's now), or kept, and why. */
export type Outcome = { status: 'removed' | 'gone' } | { status: 'kept'; reason: string };

const REMOVED: Outcome = { status: 'removed' };
const GONE: Outcome = { status: 'gone' };
const kept = (reason: string): Outcome => ({ status: 'kept', reason });

/**
 * Removes `target`'s name if it still leads to that object. Without
 * `force`, only if no handle holds a liveness token on it but the tokens in
 * `except` (this program's own): the rule `shmkit gc` removes by, a lock
 * over every token's byte that no opener can race (docs/design.md,
 * "Removing unused objects"). Never throws.
 */
export function removeName(target: Pick<Member, 'name' | 'namespace' | 'identity' | 'tokens'>, force: boolean, except: number[] = []): Outcome {
  try {
    if (target.namespace === 'semaphore') return removeSemaphore(target.name, target.identity, force);
    return removeSegment(target, force, except);
  } catch (err) {
    const error = fromNative(err);
    return kept(`${error.code}: ${error.message}`);
  }
}

function removeSegment(target: Pick<Member, 'name' | 'identity' | 'tokens'>, force: boolean, except: number[]): Outcome {
  if (!force && process.platform !== 'linux') return kept('this platform cannot tell whether another process has it open (no OFD locks)');
  if (!force && !target.tokens) return kept('its handles hold no liveness tokens, so whether another process has it open cannot be told');
  const path = systemName(target.name);
  let fd: number;
  try {
    fd = native.shmOpen(path, false, false, 0);
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return GONE;
    // A mode without write access for us: an object we made and may remove, but cannot check.
    if (force && hasCode(err, 'EACCES')) return unlinkShm(path);
    throw err;
  }
  try {
    if (target.identity !== '' && native.fileId(fd) !== target.identity) return GONE; // the name is another object's now
    if (!force && !native.livenessExclude(fd, except)) return kept('another handle holds it open');
    // While the exclusion holds no handle can take a token; is the name still this file's?
    if (!nameLeadsTo(target.name, target.identity)) return GONE;
    return unlinkShm(path);
  } finally {
    try {
      native.closeFd(fd); // drops the exclusion
    } catch {
      // nothing left to undo
    }
  }
}

function unlinkShm(path: string): Outcome {
  try {
    native.shmUnlink(path);
    return REMOVED;
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return GONE;
    throw err;
  }
}

function removeSemaphore(name: string, identity: string, force: boolean): Outcome {
  if (!force) return kept('a POSIX semaphore keeps no record of who has it open (C and Python open it too)');
  if (identity !== '' && semaphoreIdentity(name) !== identity) return GONE;
  try {
    native.semUnlink(systemName(name));
    return REMOVED;
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return GONE;
    throw err;
  }
}

/**
 * A semaphore's file identity where semaphores are files (Linux:
 * /dev/shm/sem.NAME), else ''. '' also when it is gone.
 */
export function semaphoreIdentity(name: string): string {
  if (process.platform !== 'linux') return '';
  try {
    const stat = statSync(`/dev/shm/sem.${name}`, { bigint: true });
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return '';
  }
}

// What runs when the process ends. Each action never throws.
const actions = new Set<() => void>();
/** unlinkOnExit's actions, by object, so that an explicit unlink drops its action. */
const unlinkActions = new Map<string, () => void>();

function memberKey(member: Pick<Member, 'namespace' | 'identity' | 'name'>): string {
  return `${member.namespace}:${member.identity === '' ? `name ${member.name}` : member.identity}`;
}

/** Runs `action` when the process ends (exit, or SIGINT/SIGTERM/SIGHUP); returns its removal. */
export function atExit(action: () => void): () => void {
  actions.add(action);
  arm();
  return () => {
    actions.delete(action);
    if (actions.size === 0) disarm();
  };
}

/** `unlinkOnExit`: removes the member's name when the process ends, whoever has it open. */
export function unlinkAtExit(member: Member): void {
  const key = memberKey(member);
  if (unlinkActions.has(key)) return;
  const target = { name: member.name, namespace: member.namespace, identity: member.identity, tokens: member.tokens };
  const action = () => {
    const outcome = removeName(target, true);
    trace('unlinkOnExit', member.what, member.name, outcome.status === 'kept' ? `kept: ${outcome.reason}` : outcome.status);
    forget();
  };
  const cancel = atExit(action);
  const forget = () => {
    if (unlinkActions.get(key) !== action) return;
    unlinkActions.delete(key);
    cancel();
  };
  unlinkActions.set(key, action);
}

/** The name of this object was removed (an explicit unlink): nothing to do for it at exit. */
export function forgetAtExit(member: Pick<Member, 'namespace' | 'identity' | 'name'>): void {
  const key = memberKey(member);
  const action = unlinkActions.get(key);
  if (action === undefined) return;
  unlinkActions.delete(key);
  actions.delete(action);
  if (actions.size === 0) disarm();
}

function runActions(): void {
  for (const action of [...actions]) {
    try {
      action();
    } catch {
      // An exit hook never throws; actions report through NODE_DEBUG.
    }
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type ExitSignal = (typeof SIGNALS)[number];
const hooked = new Map<ExitSignal, () => void>();
let armed = false;

/** True while shmkit listens for SIGINT/SIGTERM/SIGHUP: a sync wait then looks for them between its sleep slices. */
export function exitSignalsHooked(): boolean {
  return hooked.size > 0;
}

function arm(): void {
  if (armed) return;
  armed = true;
  process.on('exit', runActions);
  // Signals reach only the main thread's listeners; a worker has 'exit'.
  if (!isMainThread) return;
  for (const signal of SIGNALS) {
    try {
      const signum = osConstants.signals[signal];
      // An ignored signal does not end the process: leave it, and the names, alone.
      if (!native.signalSave(signum, process.listenerCount(signal) === 0)) continue;
      const listener = () => {
        native.signalPending(); // this listener is the one handling it
        onSignal(signal);
      };
      process.on(signal, listener);
      hooked.set(signal, listener);
      native.signalLatch(signum);
    } catch {
      // sigaction refused (it does not, for these signals): the names still go at exit.
    }
  }
  native.signalPending(); // what was latched before is not ours
}

function disarm(): void {
  if (!armed) return;
  armed = false;
  process.removeListener('exit', runActions);
  for (const signal of [...hooked.keys()]) unhook(signal);
}

function unhook(signal: ExitSignal): void {
  const listener = hooked.get(signal);
  if (listener === undefined) return;
  hooked.delete(signal);
  process.removeListener(signal, listener);
  // With no listener left libuv has put back the default; put back what was there before us (Node's own handler).
  if (process.listenerCount(signal) === 0) native.signalRestore(osConstants.signals[signal]);
}

/**
 * One of the signals came: remove the names; then, if the program has no
 * listener of its own for it, end the process by it as it would have ended
 * without shmkit; if it has, the program decides what happens next.
 */
function onSignal(signal: ExitSignal): void {
  try {
    const others = process.listenerCount(signal) - (hooked.has(signal) ? 1 : 0);
    trace('signal', 'process', signal, others > 0 ? 'removing names; the program handles the signal' : 'removing names, then ending by it');
    runActions();
    if (others > 0) return;
    unhook(signal);
    process.kill(process.pid, signal);
  } catch {
    // Never throws from a signal hook.
  }
}

/**
 * For a sync wait, between its sleep slices: a signal that came while this
 * thread was blocked (so no JS listener could run) is handled now.
 */
export function takeExitSignals(): void {
  if (!isMainThread) return;
  const bits = native.signalPending();
  if (bits === 0) return;
  for (const signal of SIGNALS) if (bits & (1 << osConstants.signals[signal]) && hooked.has(signal)) onSignal(signal);
}

/** What a create (or openOrCreate) was asked about the name's lifetime. */
export interface Lifetime {
  unlinkOnExit: boolean;
  scope: Scope | undefined;
}

/** Gives a new (or opened) handle the lifetime its options asked for. */
export function settle<T extends HasMember>(handle: T, lifetime: Lifetime): T {
  if (lifetime.unlinkOnExit) unlinkAtExit(handle[MEMBER]());
  lifetime.scope?.add(handle);
  return handle;
}

const OPEN_OR_CREATE_ATTEMPTS = 100;

/**
 * Opens the object, or creates it if the name does not exist: of several
 * processes racing, exactly one creates (O_EXCL) and the others open what it
 * made; a name removed between a failed create and the open is created
 * again. `check` refuses an existing object of another shape (it throws
 * ERR_SHM_FORMAT); the handle is closed then.
 */
export function openOrCreate<T extends { close(): void }>(open: () => T, create: () => T, check?: (handle: T) => void): T {
  for (let attempt = 1; ; attempt++) {
    let handle: T | undefined;
    try {
      handle = open();
    } catch (err) {
      if (!(err instanceof ShmError) || err.code !== 'ENOENT' || attempt >= OPEN_OR_CREATE_ATTEMPTS) throw err;
    }
    if (handle !== undefined) {
      try {
        check?.(handle);
      } catch (err) {
        handle.close();
        throw err;
      }
      return handle;
    }
    try {
      return create();
    } catch (err) {
      if (!(err instanceof ShmError) || err.code !== 'EEXIST' || attempt >= OPEN_OR_CREATE_ATTEMPTS) throw err;
    }
  }
}

/** What openOrCreate throws for an existing object of another shape than asked for. */
export function shapeMismatch(what: string, name: string, has: string, asked: string): ShmError {
  return new ShmError(
    ErrorCodes.FORMAT,
    `${what} ${JSON.stringify(name)} exists with ${has}, but openOrCreate asked for ${asked}: open it with ${what}.open, or remove it (${what}.unlink) to make another`,
  );
}

// The one wait driver. Every blocking operation in shmkit (a lock, a ring, an
// Event, a Barrier, a Condition, a semaphore) describes itself as a WaitPlan:
// how to try once, and what to sleep on when the try fails. This module does
// the rest, the same way for all of them, sync and async:
//
//   - the deadline (one type, from `{ timeout }`), and slicing long sleeps so
//     a plan can look around (a lock's dead holder, a pipe's dead peer);
//   - adaptive spinning before sleeping (see Spinner);
//   - the AbortSignal: an aborted signal rejects with an AbortError before
//     anything is tried, and aborting during a sleep cancels it at once;
//   - close(): the engine ends a closed handle's sleeps ('closed') and the
//     driver throws ERR_SHM_CLOSED without touching the unmapped memory.
//
// The loop is written once, as a generator that yields the sleeps it needs;
// waitSync runs them on this thread, waitAsync on the addon's wait engine.
import { trace } from '../core/debug.js';
import { ErrorCodes, fromNative, invalidArg, ShmError } from '../core/errors.js';
import { SpinnerWord } from '../core/layout.js';
import { exitSignalsHooked, takeExitSignals } from '../core/lifetime.js';
import { type AsyncWaitResult, native } from '../core/native.js';
import { checkObject, checkTimeout } from '../core/validate.js';
import { hasSleepers, Seat, type SharedWord, sleepShared } from './sleep-group.js';

/** Options of every wait in shmkit. */
export interface WaitOptions {
  /** Milliseconds to wait; omitted or `Infinity` waits for ever; 0 only tries. */
  timeout?: number;
  /**
   * Cancels the wait: it rejects with an AbortError (`name` 'AbortError',
   * `code` 'ABORT_ERR', `cause` the signal's reason). A signal that is
   * already aborted rejects at once, even if nothing would have to wait.
   * Sync forms check it when they start (nothing can abort a blocked thread).
   */
  signal?: AbortSignal;
}

/** A point in time (performance.now() ms) after which a wait gives up. */
export class Deadline {
  readonly at: number;

  constructor(timeoutMs: number) {
    this.at = performance.now() + timeoutMs;
  }

  /** Milliseconds left (Infinity for none, <= 0 once passed). */
  remaining(): number {
    return this.at === Infinity ? Infinity : this.at - performance.now();
  }

  get expired(): boolean {
    return performance.now() >= this.at;
  }
}

/** Validated wait options. */
export interface ParsedWait {
  readonly deadline: Deadline;
  readonly signal: AbortSignal | undefined;
}

/** No options: no deadline, no signal (one shared object: the hot paths allocate nothing). */
const FOREVER: ParsedWait = { deadline: new Deadline(Infinity), signal: undefined };

/**
 * Checks `{ timeout, signal }` and starts the deadline. Throws the AbortError
 * at once if the signal is already aborted: an aborted signal never acquires.
 */
export function parseWaitOptions(options: unknown): ParsedWait {
  if (options === undefined) return FOREVER;
  const opts = checkObject<WaitOptions>(options, 'options');
  const timeout = checkTimeout(opts.timeout, 'options.timeout');
  const signal = checkSignal(opts.signal);
  if (signal?.aborted) throw abortError(signal);
  return { deadline: new Deadline(timeout), signal };
}

export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal) || !isRealSignal(signal)) throw invalidArg('options.signal must be an AbortSignal');
  return signal;
}

/** False for an object that only borrows AbortSignal's prototype (its getters throw ERR_INVALID_THIS). */
function isRealSignal(signal: AbortSignal): boolean {
  try {
    return typeof signal.aborted === 'boolean';
  } catch {
    return false;
  }
}

/** The error an aborted wait rejects with, as Node's own APIs do. */
export function abortError(signal: AbortSignal): ShmError {
  const err = new ShmError(ErrorCodes.ABORTED, 'The operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}

/** A plan's answer: try again (the state moved, or the try failed). */
export const RETRY: unique symbol = Symbol('retry');
/** The driver's answer when the deadline passed first. */
export const TIMED_OUT: unique symbol = Symbol('timed out');
export type TimedOut = typeof TIMED_OUT;

/** Sleep on a futex word while it holds `expected`. */
export interface WordSleep {
  readonly words: Int32Array;
  readonly index: number;
  readonly expected: number;
}

/** What a blocking operation tells the driver. */
export interface WaitPlan<T> {
  /**
   * Tries once; the result, or RETRY. `slept` is true after a sleep (a lock
   * then takes its word with its WAITERS bit, as a woken futex waiter must).
   */
  attempt(slept: boolean): T | typeof RETRY;
  /** The word whose change may let attempt() succeed, and its value now (no side effects). */
  watch(): WordSleep | typeof RETRY;
  /**
   * Before sleeping: tells wakers that someone may sleep (a lock's WAITERS
   * bit, a ring's waiting flag). Returns the value to sleep on, or RETRY if
   * the word moved meanwhile. Omitted: sleep on what watch() saw.
   * `bell` is what a waiting flag should hold: this event loop's doorbell
   * id (async waits, where there is one), else 1 (docs/format.md).
   */
  announce?(watched: WordSleep, bell: number): number | typeof RETRY;
  /**
   * True if announce() publishes the `bell` it is given where wakers ring it
   * (a channel's waiting flag): the sleep then ends on a ring of this event
   * loop's doorbell and needs no futex wait (docs/design.md, "Doorbells").
   */
  readonly wakersRingDoorbell?: boolean;
  /**
   * Instead of a futex word: a native semaphore (its id), a unit of which
   * the sleep takes; a sleep that ends 'ok' took one, and `took()` says what
   * the operation returns then.
   */
  readonly semaphore?: { readonly id: number; took(): T };
  /** Longest sleep before attempt() must run again. */
  readonly sliceMs?: number;
  /**
   * The word's waits in this process sleep together (sleep-group.ts): one
   * kernel wait, and a wake-up resumes only those the word admits. For
   * words whose wakers change the word, or set a flag announce() set,
   * before they wake.
   */
  readonly shared?: SharedWord;
}

/** What a wait belongs to: once closed, its waits end with ERR_SHM_CLOSED. */
export interface WaitOwner {
  readonly closed: boolean;
  /** The object's name (for NODE_DEBUG lines). */
  readonly name: string;
  closedError(): ShmError;
}

/** The longest a sync wait blocks before looking around (a terminated worker stops within it). */
export const SYNC_SLICE_MS = 100;

/**
 * How long to spin before sleeping, from how recent waits at one wait site
 * went. While the other side answers within a few wake-up costs (a busy
 * request/reply pair), spin up to that bound: the answer is caught without a
 * sleep and a wake-up on either side. Without this, two processes in a
 * request/reply loop fall into a stable slow mode where each reply takes
 * longer than a short fixed spin because the other side slept too.
 *
 * When to stop, docs/design.md "Adaptive spinning":
 * - a futex sleep: after three waits in a row longer than the bound (the
 *   other side is idle; a single long wait, a preempted peer, does not stop it);
 * - a doorbell sleep (an async channel wait): after three spins in a row that
 *   caught nothing. A doorbell's socket-style wake places the woken peer next
 *   to its waker, so a waker that then spins delays the very answer it spins for.
 * Once stopped, every eighth wait spins again, to notice a peer that became
 * busy: two sides that both sleep answer each other in about two wake-up
 * costs, which can be just over the bound, so without the probe they could
 * stay asleep together for good.
 */
export class Spinner {
  /**
   * The site's counters. The rule itself is in the addon (native/wait/spinner.cc),
   * so that a receive done in one native call follows it too; over an
   * ArrayBuffer of their own, whose memory V8 does not move.
   */
  readonly state = new Int32Array(new ArrayBuffer(SpinnerWord.words * 4));

  /** Milliseconds to spin now (0: sleep at once), before a doorbell sleep or a futex sleep. */
  budget(doorbell: boolean): number {
    return native.spinBudget(this.state, doorbell);
  }

  /** Records how long a wait took, spin and sleep. */
  waited(ms: number): void {
    native.spinWaited(this.state, ms);
  }

  /** Records how a spin ended: it caught the change, or it ran out and the wait must sleep. */
  spun(caught: boolean): void {
    native.spinSpun(this.state, caught);
  }
}

/** One sleep the loop asks its runner for: on a word, or taking a semaphore unit. */
type SleepRequest =
  | {
      readonly word: WordSleep;
      readonly timeoutMs: number;
      /** The sleep ends on a ring of this event loop's doorbell (and needs no futex wait). */
      readonly bell: boolean;
    }
  | { readonly semaphore: number; readonly timeoutMs: number };

/** What a sync sleeper writes in a waiting flag: "someone sleeps", no doorbell. */
const NO_BELL = 1;
let doorbell: number | undefined;

/** This event loop's doorbell id, or NO_BELL where there is none (opened at first use). */
function thisLoopsDoorbell(): number {
  doorbell ??= native.doorbellId() || NO_BELL;
  return doorbell;
}

/** Whether this event loop has a doorbell: which spinning rule its async waits follow. */
export function hasAsyncDoorbell(): boolean {
  return thisLoopsDoorbell() !== NO_BELL;
}

type SleepOutcome = AsyncWaitResult;

function* waitLoop<T>(
  owner: WaitOwner,
  plan: WaitPlan<T>,
  wait: ParsedWait,
  spinner: Spinner,
  maxSliceMs: number,
  bell: number,
  started: number,
  spun: boolean,
): Generator<SleepRequest, T | TimedOut, SleepOutcome> {
  let slept = false;
  for (;;) {
    if (owner.closed) throw owner.closedError();
    if (wait.signal?.aborted) throw abortError(wait.signal);
    const result = plan.attempt(slept);
    if (result !== RETRY) {
      spinner.waited(performance.now() - started);
      return result;
    }
    const remaining = wait.deadline.remaining();
    if (remaining <= 0) {
      const waited = performance.now() - started;
      spinner.waited(waited);
      // A try that was not to wait (timeout 0, polling) is not news.
      if (waited >= 1) trace('timeout', `wait on ${owner.constructor.name}`, owner.name, `after ${waited.toFixed(0)} ms`);
      return TIMED_OUT;
    }
    const slice = Math.min(remaining, plan.sliceMs ?? Infinity, maxSliceMs);
    if (plan.semaphore !== undefined) {
      if ((yield { semaphore: plan.semaphore.id, timeoutMs: slice }) === 'ok') {
        spinner.waited(performance.now() - started);
        return plan.semaphore.took();
      }
      slept = true;
      continue;
    }
    const watched = plan.watch();
    if (watched === RETRY) continue;
    const rings = plan.wakersRingDoorbell === true && bell !== NO_BELL;
    if (!spun) {
      spun = true;
      // Behind this process's own sleepers a spin cannot win: they go first.
      const behind = plan.shared !== undefined && hasSleepers(plan.shared.key);
      if (!behind && spinStage(watched, spinner, rings, remaining)) continue;
    }
    const expected = plan.announce ? plan.announce(watched, bell) : watched.expected;
    if (expected === RETRY) continue;
    yield { word: { words: watched.words, index: watched.index, expected }, timeoutMs: slice, bell: rings };
    slept = true;
  }
}

/** The spin before a wait's first sleep, if the spinner allows one: true if the word moved. */
function spinStage(watched: WordSleep, spinner: Spinner, rings: boolean, remaining: number): boolean {
  const budget = Math.min(spinner.budget(rings), remaining);
  if (budget <= 0) return false;
  const caught = native.spin(watched.words, watched.index, watched.expected, budget);
  spinner.spun(caught);
  return caught;
}

/**
 * Runs a plan, blocking this thread. `spunSince`: the caller already tried
 * once and spun since then, in vain (a channel's first try in the addon,
 * which asks the spinner itself: native/channel/ring.h RingFirstRead); the
 * wait goes straight to sleep.
 */
export function waitSync<T>(owner: WaitOwner, plan: WaitPlan<T>, wait: ParsedWait, spinner: Spinner, spunSince?: number): T | TimedOut {
  if (spunSince !== undefined) return runSync(waitLoop(owner, plan, wait, spinner, SYNC_SLICE_MS, NO_BELL, spunSince, true));
  const started = performance.now();
  // The loop's first round (try, spin, try) runs here, before the generator
  // is made: when a busy peer answers within the spin (most waits of a
  // request/reply pair), the wait is over without it. That keeps the
  // generator out of V8's optimizing compiler on such paths, and its compile
  // jobs (tens of ms of CPU) out of the way of two spinning processes on a
  // small machine (docs/design.md). Nothing can abort a sync wait or close
  // its handle once it runs (both need this thread), so the checks the loop
  // makes every round are needed here only once.
  if (owner.closed) throw owner.closedError();
  let spun = false;
  if (plan.semaphore === undefined) {
    let result = plan.attempt(false);
    const watched = result === RETRY ? plan.watch() : RETRY;
    if (watched !== RETRY) {
      spun = true;
      if (spinStage(watched, spinner, false, wait.deadline.remaining())) result = plan.attempt(false);
    }
    if (result !== RETRY) {
      spinner.waited(performance.now() - started);
      return result;
    }
  }
  return runSync(waitLoop(owner, plan, wait, spinner, SYNC_SLICE_MS, NO_BELL, started, spun));
}

/** Drives a wait loop, sleeping on this thread. */
function runSync<T>(loop: Generator<SleepRequest, T | TimedOut, SleepOutcome>): T | TimedOut {
  let step = loop.next();
  while (!step.done) {
    const request = step.value;
    const outcome =
      'semaphore' in request
        ? native.semWait(request.semaphore, request.timeoutMs)
        : native.wait(request.word.words, request.word.index, request.word.expected, request.timeoutMs);
    // A SIGINT/SIGTERM/SIGHUP that came while this thread slept has names to
    // remove (unlinkOnExit, a Scope), and no JS listener can run until the
    // wait returns: handled here, within one slice (docs/design.md, "Lifetime of names").
    if (exitSignalsHooked()) takeExitSignals();
    step = loop.next(outcome);
  }
  return step.value;
}

/**
 * Runs a plan without blocking the event loop: sleeps go to the wait engine.
 * `spunSince`: the caller already tried once and spun since then (as waitSync's).
 * `seat`: the place in line of a shared word's sleepers, when the caller
 * keeps it across several waits (a Condition's wait); else one of its own.
 */
export async function waitAsync<T>(
  owner: WaitOwner,
  plan: WaitPlan<T>,
  wait: ParsedWait,
  spinner: Spinner,
  spunSince?: number,
  seat?: Seat,
): Promise<T | TimedOut> {
  const loop = waitLoop(owner, plan, wait, spinner, Infinity, thisLoopsDoorbell(), spunSince ?? performance.now(), spunSince !== undefined);
  const ownSeat = plan.shared !== undefined && seat === undefined ? new Seat() : undefined;
  let result: T | TimedOut | undefined;
  try {
    let step = loop.next();
    while (!step.done) {
      const pending = sleepAsync(step.value, plan, wait, seat ?? ownSeat);
      // Awaited here, not through settle(): each async layer between the
      // engine's wake-up and the caller is one more microtask hop, and on a CPU
      // that just woke up from idle each costs microseconds (docs/design.md).
      let outcome: SleepOutcome;
      try {
        outcome = await outcomeOf(pending, wait.signal);
      } catch (err) {
        throw fromNative(err);
      }
      step = loop.next(outcome);
    }
    result = step.value;
    return result;
  } finally {
    ownSeat?.leave(result === undefined || result === TIMED_OUT);
  }
}

/** Starts one sleep of an async wait: its outcome, and how to cancel it. */
function sleepAsync(request: SleepRequest, plan: WaitPlan<unknown>, wait: ParsedWait, seat: Seat | undefined): [Promise<SleepOutcome>, () => void] {
  if ('semaphore' in request) return cancellable(native.semWaitAsync(request.semaphore, request.timeoutMs));
  if (plan.shared !== undefined && seat !== undefined && !request.bell) {
    return sleepShared(seat, plan.shared, plan, request.word, wait.deadline.remaining());
  }
  return cancellable(native.waitAsync(request.word.words, request.word.index, request.word.expected, request.timeoutMs, request.bell));
}

function cancellable([promise, id]: [Promise<SleepOutcome>, number]): [Promise<SleepOutcome>, () => void] {
  return [promise, () => native.cancelWait(id)];
}

/** Awaits one native wait (see outcomeOf). */
export async function settle(pending: [Promise<SleepOutcome>, number], signal: AbortSignal | undefined): Promise<SleepOutcome> {
  try {
    return await outcomeOf(cancellable(pending), signal);
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * The outcome of one native wait. An abort cancels it and rejects with the
 * AbortError at once (a semaphore unit it takes later goes back: the engine
 * sees its wait already ended).
 */
function outcomeOf([promise, cancel]: [Promise<SleepOutcome>, () => void], signal: AbortSignal | undefined): Promise<SleepOutcome> {
  return signal ? abortable(promise, cancel, signal) : promise;
}

function abortable(promise: Promise<SleepOutcome>, cancel: () => void, signal: AbortSignal): Promise<SleepOutcome> {
  return new Promise<SleepOutcome>((resolve, reject) => {
    const onAbort = () => {
      cancel();
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (outcome) => {
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

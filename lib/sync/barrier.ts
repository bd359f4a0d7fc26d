import { trace } from '../core/debug.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { shapeMismatch } from '../core/lifetime.js';
import type { CreateOptions, OpenOptions, OpenOrCreateOptions } from '../core/options.js';
import type { TypedSegment } from '../core/typed-segment.js';
import { checkInteger } from '../core/validate.js';
import { Lock } from './lock.js';
import { WAIT_SLICE_MS } from './lock-word.js';
import { type NewWords, type SyncKind, SyncObject, wakeAll } from './sync-object.js';
import { parseWaitOptions, RETRY, TIMED_OUT, type TimedOut, type WaitOptions, type WaitPlan, waitAsync, waitSync } from './waiting.js';

// Words of a Barrier segment. Waiters sleep on GENERATION, which moves on
// when the last party arrives and also when a generation is broken (abort,
// reset, a waiter's timeout or abort, a waiting party's death);
// BROKEN_GENERATION = g + 1 marks generation g as broken, so a woken waiter
// can tell the two apart. ARRIVALS holds, for arrival index i < COUNT, the
// token of the handle that arrived i-th in this generation, so that a
// waiting party can be found dead (docs/format.md).
const COUNT = 0;
const GENERATION = 1;
const BROKEN = 2;
const PARTIES = 3;
const BROKEN_GENERATION = 4;
const ARRIVALS = 5;
/** The most parties: one arrival word each. */
export const MAX_PARTIES = 2 ** 20;
/** How long close() (and a party giving up) waits for the lock before leaving the break to later. */
const TIDY_LOCK_MS = 100;
/** Arrivals whose liveness one look-around checks (one system call each); the next look-around goes on from there. */
const ARRIVALS_PER_LOOK = 256;

interface Arrival {
  readonly index: number;
  readonly generation: number;
  readonly waiting: boolean;
}

/**
 * A barrier for a fixed number of parties, by name (Python's `Barrier`):
 * each `wait()` blocks until `parties` callers, in any processes, have
 * arrived, then all return at once with their arrival index (0 .. parties-1).
 * As in Python, a party that gives up breaks the barrier for everyone:
 * `abort()`, a waiter's timeout or AbortSignal, and closing a handle that is
 * waiting. Waiters of a broken barrier throw `ERR_SHM_BROKEN_BARRIER`, and
 * it stays broken until `reset()`.
 */
export class Barrier extends SyncObject {
  readonly #lock: Lock;
  /** Where the next look for dead parties starts. */
  #lookFrom = 0;
  /** The parties, as the segment's size says (its PARTIES word is checked against it at open, and read nowhere else). */
  readonly #parties: number;

  private constructor(typed: TypedSegment) {
    super(typed);
    this.#lock = Lock.borrow(typed);
    this.#parties = typed.count - ARRIVALS;
  }

  /** @internal */
  protected static override readonly kindCode = Kind.barrier;
  static readonly #kind: SyncKind<Barrier> = { code: Barrier.kindCode, words: existingWords, make: (typed) => new Barrier(typed) };

  /** Creates a Barrier for `parties` parties, 1 .. 2^20 (`EEXIST` if the name exists). */
  static create(name: string, parties: number, options?: CreateOptions): Barrier {
    const count = checkInteger(parties, 'parties', 1, MAX_PARTIES);
    return SyncObject.createObject(name, Barrier.#kind, newWords(count), options);
  }

  /** Opens an existing Barrier; `parties` comes from the segment. */
  static open(name: string, options?: OpenOptions): Barrier {
    return SyncObject.openObject(name, Barrier.#kind, options);
  }

  /**
   * Opens the Barrier `name` if it exists, else creates it for `parties`.
   * @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object, or a Barrier of other parties
   */
  static openOrCreate(name: string, parties: number, options?: OpenOrCreateOptions): Barrier {
    const count = checkInteger(parties, 'parties', 1, MAX_PARTIES);
    return SyncObject.openOrCreateObject(name, Barrier.#kind, newWords(count), options, (existing) => {
      if (existing.#parties !== count) throw shapeMismatch('Barrier', existing.name, `${existing.#parties} parties`, `${count} parties`);
    });
  }

  /** How many parties must arrive. */
  get parties(): number {
    this.checkOpen();
    return this.#parties;
  }

  /** How many parties are waiting now. */
  get nWaiting(): number {
    this.checkOpen();
    return Atomics.load(this.words, COUNT);
  }

  /** True while the barrier is broken (until `reset()`). */
  get broken(): boolean {
    this.checkOpen();
    return Atomics.load(this.words, BROKEN) === 1;
  }

  /** @internal */
  protected override inspectState(): Record<string, unknown> {
    return { parties: this.parties, nWaiting: this.nWaiting, broken: this.broken };
  }

  /**
   * Arrives and waits for the others without blocking the event loop.
   * @returns this party's arrival index, 0 .. parties-1.
   * @throws {ShmError} ERR_SHM_BROKEN_BARRIER if the barrier is or becomes
   *   broken, or the timeout passes (which breaks it for everyone);
   *   AbortError if `signal` aborts (which breaks it too); ERR_SHM_CLOSED.
   */
  async wait(options?: WaitOptions): Promise<number> {
    this.checkOpen();
    const wait = parseWaitOptions(options);
    if (!(await this.#lock.acquire({ timeout: wait.deadline.remaining(), signal: wait.signal }))) throw this.#lockTimedOut();
    const arrival = this.#arrive();
    if (!arrival.waiting) return arrival.index;
    return this.withTidy(
      () => this.#lock.acquireSync({ timeout: TIDY_LOCK_MS }) && this.#giveUp(arrival),
      async () => {
        let passed: true | TimedOut;
        try {
          passed = await waitAsync(this, this.#passed(arrival), wait, this.spinner);
        } catch (err) {
          if (this.closed) throw err;
          await this.#giveUpSoon(arrival);
          throw err;
        }
        if (passed === TIMED_OUT && (await this.#giveUpSoon(arrival))) throw brokenError('timed out waiting at the barrier; it is now broken');
        return this.#outcome(arrival);
      },
    );
  }

  /** `wait` blocking this thread. */
  waitSync(options?: WaitOptions): number {
    this.checkOpen();
    const wait = parseWaitOptions(options);
    if (!this.#lock.acquireSync({ timeout: Math.max(0, wait.deadline.remaining()) })) throw this.#lockTimedOut();
    const arrival = this.#arrive();
    if (!arrival.waiting) return arrival.index;
    if (waitSync(this, this.#passed(arrival), wait, this.spinner) === TIMED_OUT) {
      const brokeIt = this.#lock.acquireSync({ timeout: TIDY_LOCK_MS }) ? this.#giveUp(arrival) : this.#giveUpLater(arrival);
      if (brokeIt) throw brokenError('timed out waiting at the barrier; it is now broken');
    }
    return this.#outcome(arrival);
  }

  /** Breaks the barrier: current and later waiters throw until `reset()`. */
  abort(): void {
    this.checkOpen();
    this.#lock.withLockSync(() => {
      Atomics.store(this.words, BROKEN, 1);
      this.#breakGeneration();
    });
  }

  /** Returns the barrier to empty and unbroken; parties waiting now throw ERR_SHM_BROKEN_BARRIER. */
  reset(): void {
    this.checkOpen();
    this.#lock.withLockSync(() => {
      if (Atomics.load(this.words, COUNT) > 0) this.#breakGeneration();
      Atomics.store(this.words, BROKEN, 0);
    });
  }

  /**
   * With the lock held (and released here): counts this arrival. The last
   * one opens the barrier, unless a party counted in this generation died
   * waiting: then it breaks it (nobody passes with a dead party's count).
   */
  #arrive(): Arrival {
    try {
      if (Atomics.load(this.words, BROKEN) === 1) throw brokenError('the barrier is broken');
      const generation = Atomics.load(this.words, GENERATION);
      const index = Atomics.load(this.words, COUNT);
      if (index < 0 || index >= this.#parties) {
        Atomics.store(this.words, BROKEN, 1);
        this.#breakGeneration();
        throw new ShmError(
          ErrorCodes.FORMAT,
          `Barrier ${JSON.stringify(this.name)} counted ${index} waiting parties of ${this.#parties} (a foreign write?): it is now broken; reset() repairs it`,
        );
      }
      if (index + 1 < this.#parties) {
        Atomics.store(this.words, ARRIVALS + index, this.typed.token);
        Atomics.store(this.words, COUNT, index + 1);
        return { index, generation, waiting: true };
      }
      const dead = this.#deadParty(0, index);
      if (dead !== undefined) {
        this.#breakForDead(dead);
        throw brokenError(`a party that arrived before this one (token ${dead.token}) died waiting; the barrier is now broken`);
      }
      Atomics.store(this.words, COUNT, 0);
      Atomics.store(this.words, GENERATION, generation + 1);
      wakeAll(this.words, GENERATION);
      return { index, generation, waiting: false };
    } finally {
      this.#lock.release();
    }
  }

  /**
   * Passed once GENERATION moves. After a sleep (each slice of
   * WAIT_SLICE_MS, for this process's waiters together: the first of them),
   * a waiter looks for a party that died waiting and breaks the barrier if
   * it finds one, as a party that gives up would have.
   */
  #passed(arrival: Arrival): WaitPlan<true> {
    return {
      attempt: (slept) => {
        if (Atomics.load(this.words, GENERATION) !== arrival.generation) return true;
        if (slept) this.#lookForDeadParties(arrival);
        return Atomics.load(this.words, GENERATION) !== arrival.generation ? true : RETRY;
      },
      watch: () => ({ words: this.words, index: GENERATION, expected: arrival.generation }),
      sliceMs: WAIT_SLICE_MS,
      shared: this.sharedWord(GENERATION, () => Infinity, WAIT_SLICE_MS),
    };
  }

  /** Checks the liveness of up to ARRIVALS_PER_LOOK waiting parties; breaks the generation for a dead one. */
  #lookForDeadParties(arrival: Arrival): void {
    const waiting = Math.min(Atomics.load(this.words, COUNT), this.#parties);
    if (waiting <= 0) return;
    // A window of the arrivals, going round them from one look to the next.
    const from = this.#lookFrom % waiting;
    const end = from + Math.min(waiting, ARRIVALS_PER_LOOK);
    const dead = this.#deadParty(from, Math.min(end, waiting)) ?? (end > waiting ? this.#deadParty(0, end - waiting) : undefined);
    this.#lookFrom = end % waiting;
    if (dead === undefined || !this.#lock.tryAcquire()) return; // the lock busy: the next look tries again
    try {
      const still = Atomics.load(this.words, GENERATION) === arrival.generation && dead.index < Atomics.load(this.words, COUNT);
      if (still && Atomics.load(this.words, ARRIVALS + dead.index) === dead.token) this.#breakForDead(dead);
    } finally {
      this.#lock.release();
    }
  }

  /** The first party of arrival indexes [from, to) whose handle is gone (each token asked once). */
  #deadParty(from: number, to: number): { index: number; token: number } | undefined {
    const asked = new Set<number>([this.typed.token, 0]);
    for (let index = from; index < to; index++) {
      const token = Atomics.load(this.words, ARRIVALS + index);
      if (asked.has(token)) continue;
      asked.add(token);
      if (!this.typed.isAlive(token)) return { index, token };
    }
    return undefined;
  }

  /** With the lock held: breaks the generation for the dead party found. */
  #breakForDead(dead: { index: number; token: number }): void {
    trace('broken', 'barrier', this.name, `the party that arrived ${dead.index}-th (token ${dead.token}) died waiting`);
    Atomics.store(this.words, BROKEN, 1);
    this.#breakGeneration();
  }

  /**
   * A party gives up (timeout, abort): breaks its generation, with the lock
   * if it comes within TIDY_LOCK_MS, else as soon as it comes (the caller
   * throws meanwhile: a live handle holds the lock). False if the
   * generation had already moved on.
   */
  async #giveUpSoon(arrival: Arrival): Promise<boolean> {
    if (await this.#lock.acquire({ timeout: TIDY_LOCK_MS })) return this.#giveUp(arrival);
    return this.#giveUpLater(arrival);
  }

  #giveUpLater(arrival: Arrival): boolean {
    this.#lock.acquire().then(
      () => this.#giveUp(arrival),
      () => {}, // closed meanwhile: close() broke it, or could not
    );
    return true;
  }

  #lockTimedOut(): ShmError {
    return new ShmError(ErrorCodes.TIMEOUT, `timed out taking the lock of the barrier ${JSON.stringify(this.name)}: this party never arrived, nothing changed`);
  }

  #outcome(arrival: Arrival): number {
    if (Atomics.load(this.words, BROKEN_GENERATION) === arrival.generation + 1) {
      throw brokenError('the barrier was broken (aborted, reset, or a party gave up) while this party waited');
    }
    return arrival.index;
  }

  /**
   * With the lock held (released here): a party gives up (timeout, abort,
   * close). Breaks its generation if that is still current (Python's rule);
   * false if the generation had already moved on (passed or broken).
   */
  #giveUp(arrival: Arrival): boolean {
    try {
      if (Atomics.load(this.words, GENERATION) !== arrival.generation) return false;
      Atomics.store(this.words, BROKEN, 1);
      this.#breakGeneration();
      return true;
    } finally {
      this.#lock.release();
    }
  }

  /** With the lock held: wakes the current generation's waiters as broken. */
  #breakGeneration(): void {
    const generation = Atomics.load(this.words, GENERATION);
    Atomics.store(this.words, BROKEN_GENERATION, generation + 1);
    Atomics.store(this.words, COUNT, 0);
    Atomics.store(this.words, GENERATION, generation + 1);
    wakeAll(this.words, GENERATION);
  }
}

function brokenError(message: string): ShmError {
  return new ShmError(ErrorCodes.BROKEN_BARRIER, message);
}

/** The words of a new Barrier for `count` parties. */
function newWords(count: number): NewWords {
  return { count: ARRIVALS + count, init: (words) => (words[PARTIES] = count) };
}

/** The words an existing Barrier must have, from what its PARTIES word says. Before 0.6 a Barrier had no arrival words: such a one reads as the wrong size. */
function existingWords(words: Int32Array): number {
  return words.length > PARTIES ? ARRIVALS + Atomics.load(words, PARTIES) : ARRIVALS;
}

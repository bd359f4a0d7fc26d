import { ErrorCodes, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import type { CreateOptions, OpenOptions } from '../core/options.js';
import type { TypedSegment } from '../core/typed-segment.js';
import { checkInteger } from '../core/validate.js';
import { Lock } from './lock.js';
import { SyncObject, wakeAll } from './sync-object.js';
import { parseWaitOptions, RETRY, Spinner, TIMED_OUT, type TimedOut, type WaitOptions, type WaitPlan, waitAsync, waitSync } from './waiting.js';

// Words of a Barrier segment. Waiters sleep on GENERATION, which moves on
// when the last party arrives and also when a generation is broken (abort,
// reset, a waiter's timeout or abort); BROKEN_GENERATION = g + 1 marks
// generation g as broken, so a woken waiter can tell the two apart.
const COUNT = 0;
const GENERATION = 1;
const BROKEN = 2;
const PARTIES = 3;
const BROKEN_GENERATION = 4;
const WORDS = 5;
/** How long close() waits for the lock to break the barrier for a pending wait. */
const TIDY_LOCK_MS = 100;

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
  readonly #spinner = new Spinner();

  private constructor(typed: TypedSegment) {
    super(typed);
    this.#lock = Lock.borrow(typed);
  }

  /** Creates a Barrier for `parties` parties (`EEXIST` if the name exists). */
  static create(name: string, parties: number, options?: CreateOptions): Barrier {
    const count = checkInteger(parties, 'parties', 1, 2 ** 31 - 1);
    return new Barrier(SyncObject.createSegment(name, Kind.barrier, WORDS, options, (words) => (words[PARTIES] = count)));
  }

  /** Opens an existing Barrier; `parties` comes from the segment. */
  static open(name: string, options?: OpenOptions): Barrier {
    return new Barrier(SyncObject.openSegment(name, Kind.barrier, WORDS, options));
  }

  /** How many parties must arrive. */
  get parties(): number {
    this.checkOpen();
    return Atomics.load(this.words, PARTIES);
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
    await this.#lock.acquire({ signal: wait.signal });
    const arrival = this.#arrive();
    if (!arrival.waiting) return arrival.index;
    return this.withTidy(
      () => this.#lock.acquireSync({ timeout: TIDY_LOCK_MS }) && this.#giveUp(arrival),
      async () => {
        let passed: true | TimedOut;
        try {
          passed = await waitAsync(this, this.#passed(arrival), wait, this.#spinner);
        } catch (err) {
          if (this.closed) throw err;
          await this.#lock.acquire();
          this.#giveUp(arrival);
          throw err;
        }
        if (passed === TIMED_OUT) {
          await this.#lock.acquire();
          if (this.#giveUp(arrival)) throw brokenError('timed out waiting at the barrier; it is now broken');
        }
        return this.#outcome(arrival);
      },
    );
  }

  /** `wait` blocking this thread. */
  waitSync(options?: WaitOptions): number {
    this.checkOpen();
    const wait = parseWaitOptions(options);
    this.#lock.acquireSync();
    const arrival = this.#arrive();
    if (!arrival.waiting) return arrival.index;
    if (waitSync(this, this.#passed(arrival), wait, this.#spinner) === TIMED_OUT) {
      this.#lock.acquireSync();
      if (this.#giveUp(arrival)) throw brokenError('timed out waiting at the barrier; it is now broken');
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

  /** With the lock held (and released here): counts this arrival; the last one opens the barrier. */
  #arrive(): Arrival {
    try {
      if (Atomics.load(this.words, BROKEN) === 1) throw brokenError('the barrier is broken');
      const generation = Atomics.load(this.words, GENERATION);
      const index = Atomics.load(this.words, COUNT);
      if (index + 1 < Atomics.load(this.words, PARTIES)) {
        Atomics.store(this.words, COUNT, index + 1);
        return { index, generation, waiting: true };
      }
      Atomics.store(this.words, COUNT, 0);
      Atomics.store(this.words, GENERATION, generation + 1);
      wakeAll(this.words, GENERATION);
      return { index, generation, waiting: false };
    } finally {
      this.#lock.release();
    }
  }

  #passed(arrival: Arrival): WaitPlan<true> {
    return {
      attempt: () => (Atomics.load(this.words, GENERATION) !== arrival.generation ? true : RETRY),
      watch: () => ({ words: this.words, index: GENERATION, expected: arrival.generation }),
    };
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

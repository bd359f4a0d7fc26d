// A counting semaphore whose value and bound live in a shmkit segment:
//
//   word 0  value     units free now (0 .. bound)
//   word 1  bound     the initial value; release() never raises value past it
//   word 2  sleepers  1 if someone may sleep on `value`; cleared by the waker
//
// Why not a POSIX semaphore with a bound beside it: sem_post cannot refuse,
// so a bound check before it races with other releasers, and macOS has no
// sem_getvalue to check with at all. Here acquire and release are each one
// compare-and-swap on `value`, so the bound holds exactly across processes,
// on every platform. A release wakes every sleeping process (they retry and
// the losers sleep again): a woken waiter that times out or is aborted can
// then never strand a unit that another sleeper needed. Within a process,
// async waiters sleep together and as many go on as there are units.
import { ErrorCodes, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { shapeMismatch } from '../core/lifetime.js';
import type { CreateOptions, OpenOptions, OpenOrCreateOptions } from '../core/options.js';
import type { TypedSegment } from '../core/typed-segment.js';
import { checkInteger, INT32_MAX } from '../core/validate.js';
import { type NewWords, type SyncKind, SyncObject, wakeAll } from './sync-object.js';
import { RETRY, type WaitOptions, type WaitPlan } from './waiting.js';

const VALUE = 0;
const BOUND = 1;
const SLEEPERS = 2;
const WORDS = 3;
const MAX_VALUE = INT32_MAX;

/**
 * A semaphore that refuses to be released above its initial value (Python's
 * `BoundedSemaphore`): over-releasing is a bug, reported as
 * `ERR_SHM_SEMAPHORE_BOUND`, and nothing is released then.
 *
 * Unlike {@link Semaphore} it is a shmkit object (a segment, not a POSIX
 * semaphore): its bound is stored with it, so `open(name)` needs only the
 * name, `value` works on macOS too, and two processes releasing at once can
 * never pass the bound together. Like a POSIX semaphore it is **not
 * crash-safe**: a process that dies holding a unit does not give it back.
 */
export class BoundedSemaphore extends SyncObject {
  readonly #plan: WaitPlan<true> = {
    attempt: () => (this.#take() ? true : RETRY),
    watch: () => (Atomics.load(this.words, VALUE) > 0 ? RETRY : { words: this.words, index: VALUE, expected: 0 }),
    announce: () => {
      Atomics.store(this.words, SLEEPERS, 1);
      return Atomics.load(this.words, VALUE) === 0 ? 0 : RETRY;
    },
    // A release wakes every sleeper in the kernel; in this process only as
    // many as there are units go on.
    shared: this.sharedWord(VALUE, () => Atomics.load(this.words, VALUE)),
  };

  private constructor(typed: TypedSegment) {
    super(typed);
    const bound = Atomics.load(this.words, BOUND);
    if (bound < 0 || Atomics.load(this.words, VALUE) > bound) {
      typed.close();
      throw new ShmError(ErrorCodes.FORMAT, `BoundedSemaphore ${JSON.stringify(this.name)} holds a value past its bound ${bound}`);
    }
  }

  /** @internal */
  protected static override readonly kindCode = Kind.boundedSemaphore;
  static readonly #kind: SyncKind<BoundedSemaphore> = { code: BoundedSemaphore.kindCode, words: WORDS, make: (typed) => new BoundedSemaphore(typed) };

  /** Creates a semaphore named `name` with `value` units, which is also its bound (`EEXIST` if the name exists). */
  static create(name: string, value = 1, options?: CreateOptions): BoundedSemaphore {
    const units = checkInteger(value, 'value', 0, MAX_VALUE);
    return SyncObject.createObject(name, BoundedSemaphore.#kind, newWords(units), options);
  }

  /**
   * Opens the BoundedSemaphore `name` if it exists, else creates it with
   * `value` units. The bound of an existing one must be `value`: units taken
   * meanwhile do not matter.
   * @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object, or a BoundedSemaphore of another bound
   */
  static openOrCreate(name: string, value = 1, options?: OpenOrCreateOptions): BoundedSemaphore {
    const units = checkInteger(value, 'value', 0, MAX_VALUE);
    return SyncObject.openOrCreateObject(name, BoundedSemaphore.#kind, newWords(units), options, (existing) => {
      if (existing.bound !== units) throw shapeMismatch('BoundedSemaphore', existing.name, `bound ${existing.bound}`, `bound ${units}`);
    });
  }

  /** Opens an existing BoundedSemaphore; its bound comes with it. */
  static open(name: string, options?: OpenOptions): BoundedSemaphore {
    return SyncObject.openObject(name, BoundedSemaphore.#kind, options);
  }

  /** The most units it can hold: its initial value. */
  get bound(): number {
    this.checkOpen();
    return Atomics.load(this.words, BOUND);
  }

  /** Units free now. */
  get value(): number {
    this.checkOpen();
    return Atomics.load(this.words, VALUE);
  }

  /** @internal */
  protected override inspectState(): Record<string, unknown> {
    return { value: this.value, bound: this.bound };
  }

  /**
   * Takes one unit without blocking the event loop.
   * @returns true when taken, false on timeout.
   * @throws AbortError, ShmError ERR_SHM_CLOSED (no unit is kept either way)
   */
  acquire(options?: WaitOptions): Promise<boolean> {
    return this.waitUntil(this.#plan, options);
  }

  /** Takes one unit, blocking this thread up to `timeout` ms. @returns false on timeout. */
  acquireSync(options?: WaitOptions): boolean {
    return this.waitUntilSync(this.#plan, options);
  }

  /** Takes one unit if one is free now. */
  tryAcquire(): boolean {
    this.checkOpen();
    return this.#take();
  }

  /**
   * Gives back `n` units (default 1) in one step, waking the waiters.
   * @throws {ShmError} ERR_SHM_SEMAPHORE_BOUND if the value would pass the bound: then nothing is released.
   */
  release(n = 1): void {
    this.checkOpen();
    checkInteger(n, 'n', 1, MAX_VALUE);
    const bound = Atomics.load(this.words, BOUND);
    for (let value = Atomics.load(this.words, VALUE); ; ) {
      if (value + n > bound) {
        throw new ShmError(
          ErrorCodes.SEMAPHORE_BOUND,
          `release(${n}) would raise BoundedSemaphore ${JSON.stringify(this.name)} from ${value} past its bound ${bound}`,
        );
      }
      const seen = Atomics.compareExchange(this.words, VALUE, value, value + n);
      if (seen === value) break;
      value = seen;
    }
    if (Atomics.exchange(this.words, SLEEPERS, 0) !== 0) wakeAll(this.words, VALUE);
  }

  /** One compare-and-swap per try: takes a unit if the value is above 0. */
  #take(): boolean {
    for (let value = Atomics.load(this.words, VALUE); value > 0; ) {
      const seen = Atomics.compareExchange(this.words, VALUE, value, value - 1);
      if (seen === value) return true;
      value = seen;
    }
    return false;
  }
}

/** The words of a new BoundedSemaphore with `units` units, its bound too. */
function newWords(units: number): NewWords {
  return {
    count: WORDS,
    init: (words) => {
      words[VALUE] = units;
      words[BOUND] = units;
    },
  };
}

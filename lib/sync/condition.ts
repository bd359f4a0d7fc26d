import { ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import type { CreateOptions, OpenOptions, OpenOrCreateOptions } from '../core/options.js';
import type { TypedSegment } from '../core/typed-segment.js';
import { checkInteger, INT32_MAX } from '../core/validate.js';
import { RLock } from './lock.js';
import { Seat, type SharedWord } from './sleep-group.js';
import { type SyncKind, SyncObject, wakeAll } from './sync-object.js';
import { type ParsedWait, parseWaitOptions, RETRY, TIMED_OUT, type TimedOut, type WaitOptions, type WaitPlan, waitAsync, waitSync } from './waiting.js';

// Words of a Condition segment, all guarded by its lock (lock_word) except
// that waiters sleep on SEQUENCE. notify(n) hands out up to n GRANTS (never
// more than there are WAITERS) and bumps SEQUENCE; a woken waiter returns
// only if it takes a grant, and only grants from a notify after it began
// waiting (SEQUENCE moved since). So a notify(n) ends at most n waits, even
// though a wake-up reaches every sleeper (docs/format.md).
const SEQUENCE = 0;
const WAITERS = 1;
const GRANTS = 2;
const WORDS = 3;
/** How long close() waits for the lock to withdraw a pending waiter. */
const TIDY_LOCK_MS = 100;

/** Where a waiter stands: the SEQUENCE it began at, the one it sleeps on, its lock depth. */
interface Waiting {
  readonly start: number;
  observed: number;
  readonly depth: number;
}

/**
 * A condition variable by name (Python's `Condition`), with its own
 * re-entrant lock in the same segment. Waiters hold the lock, call `wait`,
 * which releases it while sleeping and takes it back before returning.
 *
 * ```js
 * await cond.withLock(async () => {
 *   await cond.waitFor(() => queue.length > 0);
 * });
 * ```
 */
export class Condition extends SyncObject {
  /** The lock waits and notifies must hold. */
  readonly lock: RLock;
  /**
   * A notify wakes every sleeping process; in this one, as many waiters go
   * on to take the lock as there are grants (counting those already on
   * their way), so a notify(1) does not send thousands through the lock.
   */
  readonly #sequence: SharedWord;

  private constructor(typed: TypedSegment) {
    super(typed);
    this.lock = RLock.borrow(typed);
    this.#sequence = this.sharedWord(SEQUENCE, () => Atomics.load(this.words, GRANTS));
  }

  /** @internal */
  protected static override readonly kindCode = Kind.condition;
  static readonly #kind: SyncKind<Condition> = { code: Condition.kindCode, words: WORDS, make: (typed) => new Condition(typed) };

  /** Creates a Condition named `name` (`EEXIST` if the name exists). */
  static create(name: string, options?: CreateOptions): Condition {
    return SyncObject.createObject(name, Condition.#kind, { count: WORDS }, options);
  }

  /** Opens an existing Condition. */
  static open(name: string, options?: OpenOptions): Condition {
    return SyncObject.openObject(name, Condition.#kind, options);
  }

  /** Opens the Condition `name` if it exists, else creates it. @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object */
  static openOrCreate(name: string, options?: OpenOrCreateOptions): Condition {
    return SyncObject.openOrCreateObject(name, Condition.#kind, { count: WORDS }, options);
  }

  acquire(options?: WaitOptions): Promise<boolean> {
    return this.lock.acquire(options);
  }

  acquireSync(options?: WaitOptions): boolean {
    return this.lock.acquireSync(options);
  }

  release(): void {
    this.lock.release();
  }

  /** Runs `fn` holding the lock. */
  withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return this.lock.withLock(fn, options);
  }

  withLockSync<T>(fn: () => T, options?: WaitOptions): T {
    return this.lock.withLockSync(fn, options);
  }

  /**
   * Releases the lock, sleeps until notified (or timeout / abort), and takes
   * the lock back before returning or throwing (not after close()).
   * @returns true when notified, false on timeout.
   * @throws {ShmError} ERR_SHM_NOT_OWNER without the lock; AbortError; ERR_SHM_CLOSED.
   */
  wait(options?: WaitOptions): Promise<boolean> {
    return this.#waitAsync(parseWaitOptions(options));
  }

  /** `wait` blocking this thread. */
  waitSync(options?: WaitOptions): boolean {
    const wait = parseWaitOptions(options);
    const waiting = this.#enter();
    for (;;) {
      const woke = waitSync(this, this.#sequenceMoved(waiting.observed), wait, this.spinner);
      this.lock.acquireSync();
      const done = this.#afterWake(waiting, woke);
      if (done !== RETRY) return done;
    }
  }

  /**
   * Waits until `predicate()` is truthy (checked with the lock held) or the
   * timeout passes; returns the predicate's last value.
   */
  async waitFor<T>(predicate: () => T, options?: WaitOptions): Promise<T> {
    if (typeof predicate !== 'function') throw invalidArg('waitFor takes a predicate function');
    const wait = parseWaitOptions(options);
    let result = predicate();
    while (!result && !wait.deadline.expired) {
      await this.#waitAsync(wait);
      result = predicate();
    }
    return result;
  }

  /** `waitFor` blocking this thread. */
  waitForSync<T>(predicate: () => T, options?: WaitOptions): T {
    if (typeof predicate !== 'function') throw invalidArg('waitForSync takes a predicate function');
    const wait = parseWaitOptions(options);
    let result = predicate();
    while (!result && !wait.deadline.expired) {
      this.waitSync({ timeout: Math.max(0, wait.deadline.remaining()) });
      result = predicate();
    }
    return result;
  }

  /** Wakes up to `n` waiters (default 1), in any process. Needs the lock. */
  notify(n = 1): void {
    this.checkOpen();
    checkInteger(n, 'n', 0, INT32_MAX);
    this.#checkHeld();
    const waiters = Atomics.load(this.words, WAITERS);
    const grants = Atomics.load(this.words, GRANTS);
    if (n === 0 || grants >= waiters) return;
    Atomics.store(this.words, GRANTS, Math.min(grants + n, waiters));
    Atomics.add(this.words, SEQUENCE, 1);
    wakeAll(this.words, SEQUENCE);
  }

  /** Wakes every waiter. Needs the lock. */
  notifyAll(): void {
    this.notify(INT32_MAX);
  }

  async #waitAsync(wait: ParsedWait): Promise<boolean> {
    const waiting = this.#enter();
    // One place in line for the whole wait: a waiter that took the lock back
    // and found no grant for it sleeps again without losing its turn.
    const seat = new Seat();
    try {
      return await this.withTidy(
        () => this.#withdrawOnClose(),
        async () => {
          for (;;) {
            let woke: true | TimedOut;
            try {
              woke = await waitAsync(this, this.#sequenceMoved(waiting.observed), wait, this.spinner, undefined, seat);
            } catch (err) {
              if (this.closed) throw err;
              // An abort: leave holding the lock, as a timeout does, but take
              // no grant (the caller gets the AbortError, not the notify).
              await this.lock.acquire();
              this.lock.restoreDepth(waiting.depth);
              this.#withdraw();
              throw err;
            }
            await this.lock.acquire();
            const done = this.#afterWake(waiting, woke);
            if (done !== RETRY) return done;
          }
        },
      );
    } finally {
      seat.leave();
    }
  }

  /** With the lock held: counts this waiter in and releases the lock whatever its depth. */
  #enter(): Waiting {
    this.checkOpen();
    this.#checkHeld();
    const start = Atomics.load(this.words, SEQUENCE);
    Atomics.add(this.words, WAITERS, 1);
    return { start, observed: start, depth: this.lock.releaseAll() };
  }

  /**
   * With the lock just taken back: true (notified: a grant taken), false
   * (timed out: counted out), or RETRY (woken without a grant for us: the
   * lock is released again and the sleep goes on).
   */
  #afterWake(waiting: Waiting, woke: true | TimedOut): boolean | typeof RETRY {
    this.lock.restoreDepth(waiting.depth);
    const sequence = Atomics.load(this.words, SEQUENCE);
    const grants = Atomics.load(this.words, GRANTS);
    if (sequence !== waiting.start && grants > 0) {
      Atomics.store(this.words, GRANTS, grants - 1);
      Atomics.sub(this.words, WAITERS, 1);
      return true;
    }
    if (woke === TIMED_OUT) {
      this.#withdraw();
      return false;
    }
    waiting.observed = sequence;
    this.lock.releaseAll();
    return RETRY;
  }

  /** With the lock held: counts a waiter out; grants never exceed waiters. */
  #withdraw(): void {
    const waiters = Atomics.sub(this.words, WAITERS, 1) - 1;
    if (Atomics.load(this.words, GRANTS) > waiters) Atomics.store(this.words, GRANTS, waiters);
  }

  /** close() with a wait pending: withdraw it, if the lock comes soon. */
  #withdrawOnClose(): void {
    if (!this.lock.acquireSync({ timeout: TIDY_LOCK_MS })) return;
    this.#withdraw();
    this.lock.release();
  }

  #sequenceMoved(observed: number): WaitPlan<true> {
    return {
      attempt: () => (Atomics.load(this.words, SEQUENCE) !== observed ? true : RETRY),
      watch: () => ({ words: this.words, index: SEQUENCE, expected: observed }),
      shared: this.#sequence,
    };
  }

  #checkHeld(): void {
    if (!this.lock.heldByMe()) throw new ShmError(ErrorCodes.NOT_OWNER, "wait() and notify() need the condition's lock held");
  }
}

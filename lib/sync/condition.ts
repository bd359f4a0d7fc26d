import { ErrorCodes, ShmError, invalidArg } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { RLock, type AcquireOptions } from './lock.js';
import { SyncObject, parseWait, sleepAsync, sleepSync, type ParsedWait, type SyncWaitOptions } from './sync-object.js';
import type { CreateOptions, OpenOptions } from '../core/options.js';
import { native } from '../core/native.js';
import { checkInteger } from '../core/validate.js';

const SEQUENCE = 0;
const WORDS = 1;

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

  private constructor(typed: ConstructorParameters<typeof RLock>[0]) {
    super(typed);
    this.lock = new RLock(typed, false);
  }

  /** Creates a Condition named `name` (`EEXIST` if the name exists). */
  static create(name: string, options?: CreateOptions): Condition {
    return new Condition(SyncObject.createSegment(name, Kind.condition, WORDS, options, () => {}));
  }

  /** Opens an existing Condition. */
  static open(name: string, options?: OpenOptions): Condition {
    return new Condition(SyncObject.openSegment(name, Kind.condition, WORDS, options));
  }

  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.lock.acquire(options);
  }

  acquireSync(options?: AcquireOptions): boolean {
    return this.lock.acquireSync(options);
  }

  release(): void {
    this.lock.release();
  }

  /** Runs `fn` holding the lock. */
  withLock<T>(fn: () => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    return this.lock.withLock(fn, options);
  }

  withLockSync<T>(fn: () => T, options?: AcquireOptions): T {
    return this.lock.withLockSync(fn, options);
  }

  /**
   * Releases the lock, sleeps until notified (or timeout / abort), and takes
   * the lock back before returning or throwing.
   * @returns false on timeout. @throws {ShmError} ERR_SHM_NOT_OWNER without the lock.
   */
  async wait(options?: SyncWaitOptions): Promise<boolean> {
    return this.#waitAsync(parseWait(options));
  }

  /** `wait` blocking this thread. */
  waitSync(options?: Omit<SyncWaitOptions, 'signal'>): boolean {
    const { sequence, depth } = this.#leave();
    try {
      return sleepSync(this.words, SEQUENCE, sequence, parseWait(options));
    } finally {
      this.lock.acquireSync();
      this.lock.restoreDepth(depth);
    }
  }

  /**
   * Waits until `predicate()` is truthy (checked with the lock held) or the
   * timeout passes; returns the predicate's last value.
   */
  async waitFor<T>(predicate: () => T, options?: SyncWaitOptions): Promise<T> {
    if (typeof predicate !== 'function') throw invalidArg('waitFor takes a predicate function');
    const wait = parseWait(options);
    let result = predicate();
    while (!result && performance.now() < wait.deadline) {
      await this.#waitAsync(wait);
      result = predicate();
    }
    return result;
  }

  /** `waitFor` blocking this thread. */
  waitForSync<T>(predicate: () => T, options?: Omit<SyncWaitOptions, 'signal'>): T {
    if (typeof predicate !== 'function') throw invalidArg('waitForSync takes a predicate function');
    const wait = parseWait(options);
    let result = predicate();
    while (!result && performance.now() < wait.deadline) {
      this.waitSync({ timeout: Math.max(0, wait.deadline - performance.now()) });
      result = predicate();
    }
    return result;
  }

  /** Wakes up to `n` waiters (default 1), in any process. Needs the lock. */
  notify(n = 1): void {
    this.checkOpen();
    checkInteger(n, 'n', 0, 2 ** 31 - 1);
    this.#checkHeld();
    Atomics.add(this.words, SEQUENCE, 1);
    native.notify(this.words, SEQUENCE, n);
  }

  /** Wakes every waiter. Needs the lock. */
  notifyAll(): void {
    this.notify(2 ** 31 - 1);
  }

  async #waitAsync(wait: ParsedWait): Promise<boolean> {
    const { sequence, depth } = this.#leave();
    try {
      return await sleepAsync(this.words, SEQUENCE, sequence, wait);
    } finally {
      await this.lock.acquire();
      this.lock.restoreDepth(depth);
    }
  }

  #leave(): { sequence: number; depth: number } {
    this.checkOpen();
    this.#checkHeld();
    const sequence = Atomics.load(this.words, SEQUENCE);
    return { sequence, depth: this.lock.releaseAll() };
  }

  #checkHeld(): void {
    if (!this.lock.heldByMe()) throw new ShmError(ErrorCodes.NOT_OWNER, 'wait() and notify() need the condition\'s lock held');
  }
}

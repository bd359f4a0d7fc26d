import { resolveDType } from '../core/dtypes.js';
import { ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { Kind, type KindCode, Word } from '../core/format.js';
import { SegmentHandle } from '../core/handle.js';
import { openOrCreate, settle } from '../core/lifetime.js';
import { type CreateOptions, createArgs, type OpenOptions, type OpenOrCreateOptions, openArgs, openTimeout } from '../core/options.js';
import { createTyped, openTyped, type TypedSegment } from '../core/typed-segment.js';
import { Acquired, LockWord } from './lock-word.js';
import { parseWaitOptions, TIMED_OUT, type TimedOut, type WaitOptions } from './waiting.js';

/** Releases its lock when disposed: `using guard = await lock.hold()`. */
export interface LockGuard extends Disposable {
  release(): void;
}

const NO_ELEMENTS = resolveDType('int32');

/**
 * A cross-process mutual-exclusion lock, by name. Free, acquire and release
 * are one JS compare-and-swap each (no native call); contended, it spins
 * briefly and then sleeps in the kernel (`acquireSync`) or in the addon's
 * wait engine (`acquire`, which never blocks the event loop).
 *
 * **Holder death.** If the process holding the lock dies (even by SIGKILL),
 * a waiter takes the lock over within its wait slice (100 ms) and
 * `ownerDied` is true until it releases: repair the data the lock protects.
 * Liveness comes from a lock the kernel drops when a process dies, never from
 * probing pids. Each open handle (each `Lock.open`, in any process or worker)
 * is its own owner; closing a handle that holds the lock counts as its death.
 */
export class Lock extends SegmentHandle {
  /** @internal */
  protected readonly word: LockWord;
  #ownerDied = false;

  /** @internal */
  protected static override readonly kindCode: KindCode = Kind.lock;

  /** Use `Lock.create` / `Lock.open`, or the `.lock` of a Value or Array. */
  protected constructor(typed: TypedSegment, owns: boolean) {
    super(typed, owns);
    this.word = new LockWord(typed.header, Word.lockWord, typed);
  }

  /** Creates a lock named `name` (`EEXIST` if the name exists), free. */
  static create(name: string, options?: CreateOptions): Lock {
    const args = createArgs(name, options);
    return settle(new Lock(createLockSegment(Kind.lock, args.name, args.mode), true), args.lifetime);
  }

  /** Opens an existing lock by name. */
  static open(name: string, options?: OpenOptions): Lock {
    return new Lock(openLockSegment(Kind.lock, name, options), true);
  }

  /** Opens the lock `name` if it exists, else creates it (free). Of several processes racing, one creates. @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object */
  static openOrCreate(name: string, options?: OpenOrCreateOptions): Lock {
    return openOrCreateLock(Kind.lock, name, options, (typed) => new Lock(typed, true));
  }

  /** @internal The lock in the header of another object's segment (closed with that object). */
  static borrow(typed: TypedSegment): Lock {
    return new Lock(typed, false);
  }

  /**
   * True while this handle holds a lock it took over from a holder that died
   * holding it (like EOWNERDEAD): the protected data may be half-updated.
   * Cleared by the release that frees the lock.
   */
  get ownerDied(): boolean {
    return this.#ownerDied;
  }

  /**
   * Acquires the lock without blocking the event loop.
   * @returns true when acquired, false on timeout.
   * @throws AbortError (`code` 'ABORT_ERR') if `signal` is or becomes aborted (an aborted signal never acquires);
   *   ShmError ERR_SHM_CLOSED if this handle is closed meanwhile.
   */
  async acquire(options?: WaitOptions): Promise<boolean> {
    if (options === undefined && this.fastAcquire()) return true;
    this.checkOpen();
    const wait = parseWaitOptions(options);
    if (this.reenter()) return true;
    return this.entered(await this.word.acquire(this, wait));
  }

  /**
   * Acquires the lock, blocking this thread for up to `timeout` ms.
   * @returns true when acquired, false on timeout.
   * @throws {ShmError} ERR_SHM_WOULD_DEADLOCK if this handle already holds a
   *   (non-re-entrant) Lock: use `acquire()`, or an RLock.
   */
  acquireSync(options?: WaitOptions): boolean {
    if (options === undefined && this.fastAcquire()) return true;
    this.checkOpen();
    const wait = parseWaitOptions(options);
    if (this.reenter()) return true;
    if (this.word.isHeldByMe()) {
      throw new ShmError(ErrorCodes.WOULD_DEADLOCK, 'this handle already holds the lock; a blocking acquire would never return (use an RLock)');
    }
    return this.entered(this.word.acquireSync(this, wait));
  }

  /** Acquires the lock if it is free (or its holder died) right now. Never blocks. */
  tryAcquire(): boolean {
    this.checkOpen();
    if (this.reenter()) return true;
    return this.entered(this.word.tryAcquire());
  }

  /** Releases the lock. @throws {ShmError} ERR_SHM_NOT_OWNER if this handle does not hold it. */
  release(): void {
    this.checkOpen();
    if (this.leave()) {
      this.word.release();
      this.#ownerDied = false;
    }
  }

  /** True if this handle holds the lock. */
  heldByMe(): boolean {
    this.checkOpen();
    return this.word.isHeldByMe();
  }

  /** True if any handle, in any process, holds the lock. */
  locked(): boolean {
    this.checkOpen();
    return this.word.isLocked();
  }

  /** @internal */
  protected override inspectState(): Record<string, unknown> {
    return { locked: this.locked() };
  }

  /** Acquires, runs `fn`, and releases even if `fn` throws or rejects. @throws {ShmError} ERR_SHM_TIMEOUT */
  async withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    if (typeof fn !== 'function') throw invalidArg('withLock takes a function');
    using _guard = await this.hold(options);
    return await fn();
  }

  /** `withLock` blocking this thread. @throws {ShmError} ERR_SHM_TIMEOUT */
  withLockSync<T>(fn: () => T, options?: WaitOptions): T {
    if (typeof fn !== 'function') throw invalidArg('withLockSync takes a function');
    using _guard = this.holdSync(options);
    return fn();
  }

  /** Acquires and returns a guard that releases on dispose: `using guard = await lock.hold()`. @throws {ShmError} ERR_SHM_TIMEOUT */
  async hold(options?: WaitOptions): Promise<LockGuard> {
    if (!(await this.acquire(options))) throw this.timedOut();
    return this.guard();
  }

  /** `hold` blocking this thread. @throws {ShmError} ERR_SHM_TIMEOUT */
  holdSync(options?: WaitOptions): LockGuard {
    if (!this.acquireSync(options)) throw this.timedOut();
    return this.guard();
  }

  /** The uncontended path: one compare-and-swap, no argument parsing, no native call. */
  protected fastAcquire(): boolean {
    if (this.typed.closed || !this.word.tryFast()) return false;
    this.entered(Acquired.Yes);
    return true;
  }

  /** Re-entry for RLock; a plain Lock never re-enters. */
  protected reenter(): boolean {
    return false;
  }

  /** Whether this release frees the word (RLock: the outermost one); the word checks ownership. */
  protected leave(): boolean {
    return true;
  }

  protected entered(result: Acquired | TimedOut): boolean {
    if (result === TIMED_OUT || result === Acquired.No) return false;
    if (result === Acquired.OwnerDied) this.#ownerDied = true;
    return true;
  }

  private guard(): LockGuard {
    let held = true;
    const release = () => {
      if (held) {
        held = false;
        this.release();
      }
    };
    return { release, [Symbol.dispose]: release };
  }

  private timedOut(): ShmError {
    return new ShmError(ErrorCodes.TIMEOUT, `timed out acquiring the lock ${JSON.stringify(this.name)}`);
  }
}

/**
 * A re-entrant Lock: the handle that holds it may acquire it again, and it is
 * freed when `release()` has been called as often as it was acquired. Like
 * Python's `RLock`, and what `Value#lock` / `Array#lock` are.
 */
export class RLock extends Lock {
  #depth = 0;

  /** @internal */
  protected static override readonly kindCode: KindCode = Kind.rlock;

  /** Creates a re-entrant lock named `name` (`EEXIST` if the name exists), free. */
  static override create(name: string, options?: CreateOptions): RLock {
    const args = createArgs(name, options);
    return settle(new RLock(createLockSegment(Kind.rlock, args.name, args.mode), true), args.lifetime);
  }

  /** Opens an existing re-entrant lock by name. */
  static override open(name: string, options?: OpenOptions): RLock {
    return new RLock(openLockSegment(Kind.rlock, name, options), true);
  }

  /** Opens the re-entrant lock `name` if it exists, else creates it (free). @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object */
  static override openOrCreate(name: string, options?: OpenOrCreateOptions): RLock {
    return openOrCreateLock(Kind.rlock, name, options, (typed) => new RLock(typed, true));
  }

  /** @internal The lock in the header of a Value, Array or Condition (closed with it). */
  static override borrow(typed: TypedSegment): RLock {
    return new RLock(typed, false);
  }

  protected override reenter(): boolean {
    if (this.#depth > 0 && this.word.isHeldByMe()) {
      this.#depth++;
      return true;
    }
    return false;
  }

  protected override entered(result: Acquired | TimedOut): boolean {
    if (!super.entered(result)) return false;
    this.#depth = 1;
    return true;
  }

  protected override leave(): boolean {
    if (this.#depth === 0 || !this.word.isHeldByMe()) {
      throw new ShmError(ErrorCodes.NOT_OWNER, 'release() of an RLock this handle does not hold');
    }
    return --this.#depth === 0;
  }

  /** @internal For Condition.wait: frees the lock whatever its depth; returns the depth. */
  releaseAll(): number {
    const depth = this.#depth;
    this.#depth = 1;
    this.release();
    return depth;
  }

  /** @internal For Condition.wait: after re-acquiring, restores the depth releaseAll() returned. */
  restoreDepth(depth: number): void {
    this.#depth = depth;
  }
}

function createLockSegment(kind: KindCode, name: string, mode: number): TypedSegment {
  return createTyped(name, kind, NO_ELEMENTS, 0, mode, () => {});
}

function openOrCreateLock<L extends Lock>(kind: KindCode, name: string, options: OpenOrCreateOptions | undefined, make: (typed: TypedSegment) => L): L {
  const args = createArgs(name, options);
  const timeout = openTimeout(options);
  const lock = openOrCreate(
    () => make(openTyped(args.name, kind, timeout)),
    () => make(createLockSegment(kind, args.name, args.mode)),
  );
  return settle(lock, args.lifetime);
}

function openLockSegment(kind: KindCode, name: string, options: OpenOptions | undefined): TypedSegment {
  const args = openArgs(name, options);
  return openTyped(args.name, kind, args.timeout);
}

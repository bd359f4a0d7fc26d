import { ErrorCodes, ShmError } from './errors.js';
import { LockWord } from './lock-word.js';
import type { MappedSegment } from './segment.js';
import { checkObject, checkTimeout } from './validate.js';

/** Options of a blocking acquire. */
export interface AcquireOptions {
  /** Milliseconds to wait; `Infinity` or omitted waits for ever, 0 only tries. */
  timeout?: number;
}

/**
 * A cross-process lock stored in a shared segment. Acquiring it when free is
 * one compare-and-swap in JS; when contended it spins briefly and then sleeps
 * in the kernel. Each open handle (each `Value.open`, in any process or
 * worker) is its own owner.
 */
export class Lock {
  protected readonly word: LockWord;
  readonly #segment: MappedSegment;

  /** @internal Made by the objects that hold a lock word (e.g. `Value#lock`). */
  constructor(segment: MappedSegment, word: LockWord) {
    this.#segment = segment;
    this.word = word;
  }

  /**
   * Acquires the lock, blocking this thread for up to `timeout` ms.
   * @returns true when acquired, false on timeout.
   * @throws {ShmError} ERR_SHM_WOULD_DEADLOCK if this handle already holds it
   *   (use an RLock to re-enter), ERR_SHM_CLOSED, ERR_SHM_INVALID_ARG.
   */
  acquireSync(options?: AcquireOptions): boolean {
    this.checkOpen();
    const timeout = checkTimeout(checkObject<AcquireOptions>(options, 'options').timeout, 'options.timeout');
    if (this.word.tryAcquire()) return true;
    if (this.word.isHeldByMe()) {
      throw new ShmError(ErrorCodes.WOULD_DEADLOCK, 'this handle already holds the lock; acquiring again would deadlock');
    }
    return this.word.acquireSync(timeout);
  }

  /** Acquires the lock if it is free right now. Never blocks. */
  tryAcquire(): boolean {
    this.checkOpen();
    return this.word.tryAcquire();
  }

  /** Releases the lock. @throws {ShmError} ERR_SHM_NOT_OWNER if this handle does not hold it. */
  release(): void {
    this.checkOpen();
    this.word.release();
  }

  /** True if any handle, in any process, holds the lock. */
  locked(): boolean {
    this.checkOpen();
    return this.word.isLocked();
  }

  /** Runs `fn` holding the lock (blocking until acquired) and releases it after, even if `fn` throws. */
  withLockSync<T>(fn: () => T): T {
    if (typeof fn !== 'function') throw new ShmError(ErrorCodes.INVALID_ARG, 'withLockSync takes a function');
    this.acquireSync();
    try {
      return fn();
    } finally {
      this.release();
    }
  }

  protected checkOpen(): void {
    if (this.#segment.closed) throw new ShmError(ErrorCodes.CLOSED, `the object holding this lock (${JSON.stringify(this.#segment.name)}) is closed`);
  }
}

/**
 * A re-entrant Lock: the handle that holds it may acquire it again; it is
 * released when `release()` has been called as many times as it was acquired.
 * Like Python's `RLock`, and what `Value#lock` / `Array#lock` are.
 */
export class RLock extends Lock {
  #depth = 0;

  override acquireSync(options?: AcquireOptions): boolean {
    this.checkOpen();
    const timeout = checkTimeout(checkObject<AcquireOptions>(options, 'options').timeout, 'options.timeout');
    if (this.#depth > 0 && this.word.isHeldByMe()) {
      this.#depth++;
      return true;
    }
    if (!this.word.acquireSync(timeout)) return false;
    this.#depth = 1;
    return true;
  }

  override tryAcquire(): boolean {
    this.checkOpen();
    if (this.#depth > 0 && this.word.isHeldByMe()) {
      this.#depth++;
      return true;
    }
    if (!this.word.tryAcquire()) return false;
    this.#depth = 1;
    return true;
  }

  override release(): void {
    this.checkOpen();
    if (this.#depth === 0 || !this.word.isHeldByMe()) {
      throw new ShmError(ErrorCodes.NOT_OWNER, 'release() of an RLock this handle does not hold');
    }
    if (--this.#depth === 0) this.word.release();
  }
}

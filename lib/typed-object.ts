// What Value and Array share: a typed segment, its name and dtype, the lock
// in its header, close/unlink.
import type { DType, DTypeInfo } from './dtypes.js';
import { ErrorCodes, ShmError } from './errors.js';
import { Word } from './format.js';
import { RLock } from './lock.js';
import { LockWord, tokenFromCounter } from './lock-word.js';
import { normalizeName } from './names.js';
import { unlinkSegment } from './segment.js';
import { DEFAULT_OPEN_TIMEOUT_MS, type TypedSegment } from './typed-segment.js';
import { checkInteger, checkObject, checkTimeout } from './validate.js';

/** Options of `create`. */
export interface CreateOptions {
  /** Permission bits of the new segment, applied exactly. Default `0o600`. */
  mode?: number;
}

/** Options of `open`. */
export interface OpenOptions {
  /**
   * Milliseconds to wait for a creator that is still initialising the object
   * (default 1000). A segment that never becomes ready is `ERR_SHM_FORMAT`.
   */
  timeout?: number;
}

export function createArgs(name: unknown, options: unknown): { name: string; mode: number } {
  const opts = checkObject<CreateOptions>(options, 'options');
  const mode = opts.mode === undefined ? 0o600 : checkInteger(opts.mode, 'options.mode', 0, 0o777);
  return { name: normalizeName(name), mode };
}

export function openArgs(name: unknown, options: unknown): { name: string; timeout: number } {
  const opts = checkObject<OpenOptions>(options, 'options');
  const timeout = opts.timeout === undefined ? DEFAULT_OPEN_TIMEOUT_MS : checkTimeout(opts.timeout, 'options.timeout');
  return { name: normalizeName(name), timeout };
}

export abstract class TypedObject implements Disposable {
  protected readonly typed: TypedSegment;
  #lock: RLock | undefined;

  protected constructor(typed: TypedSegment) {
    this.typed = typed;
  }

  /** The name, without a leading slash. */
  get name(): string {
    return this.typed.segment.name;
  }

  /** The element type, e.g. `'float64'` (typecodes are resolved: `'d'` reads back as `'float64'`). */
  get dtype(): DType {
    return this.typed.dtype.name;
  }

  /** @internal */
  get dtypeInfo(): DTypeInfo {
    return this.typed.dtype;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.typed.segment.closed;
  }

  /**
   * The re-entrant lock stored in this object's header, shared by every
   * process that opens the name (Python's `get_lock()`). Each handle is its
   * own owner.
   */
  get lock(): RLock {
    this.checkOpen();
    if (this.#lock === undefined) {
      const token = tokenFromCounter(Atomics.add(this.typed.header, Word.tokenCounter, 1) + 1);
      this.#lock = new RLock(this.typed.segment, new LockWord(this.typed.header, Word.lockWord, token));
    }
    return this.#lock;
  }

  /** Unmaps the memory; every view of it drops to length 0. Idempotent; does not unlink. */
  close(): void {
    this.typed.segment.close();
  }

  /** Removes the name; processes that have it open keep working. @throws {ShmError} ENOENT */
  unlink(): void {
    unlinkSegment(this.typed.segment.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  protected checkOpen(): void {
    if (this.typed.segment.closed) {
      throw new ShmError(ErrorCodes.CLOSED, `${this.constructor.name} ${JSON.stringify(this.name)} is closed`);
    }
  }
}

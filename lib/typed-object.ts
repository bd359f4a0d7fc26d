// What Value and Array share: a typed segment, its name and dtype, the lock
// in its header, close/unlink.
import type { DType, DTypeInfo } from './dtypes.js';
import { ErrorCodes, ShmError } from './errors.js';
import { RLock } from './lock.js';
import { unlinkSegment } from './segment.js';
import type { TypedSegment } from './typed-segment.js';

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
    this.#lock ??= new RLock(this.typed, false);
    return this.#lock;
  }

  /** Unmaps the memory; every view of it drops to length 0. Idempotent; does not unlink. */
  close(): void {
    this.typed.close();
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

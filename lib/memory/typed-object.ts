// What Value and Array add to a segment handle: the dtype, and the lock in
// their header.
import type { DType, DTypeInfo } from '../core/dtypes.js';
import { SegmentHandle } from '../core/handle.js';
import { RLock } from '../sync/lock.js';

export abstract class TypedObject extends SegmentHandle {
  #lock: RLock | undefined;

  /** The element type, e.g. `'float64'` (typecodes are resolved: `'d'` reads back as `'float64'`). */
  get dtype(): DType {
    return this.typed.dtype.name;
  }

  /** @internal */
  get dtypeInfo(): DTypeInfo {
    return this.typed.dtype;
  }

  /**
   * The re-entrant lock stored in this object's header, shared by every
   * process that opens the name (Python's `get_lock()`). Each handle is its
   * own owner.
   */
  get lock(): RLock {
    this.checkOpen();
    this.#lock ??= RLock.borrow(this.typed);
    return this.#lock;
  }
}

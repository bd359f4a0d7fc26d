// What Value and Array add to a segment handle: the dtype, and the lock in
// their header.
import type { DType, DTypeInfo } from '../core/dtypes.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import type { KindCode } from '../core/format.js';
import { SegmentHandle } from '../core/handle.js';
import { typedOpenArgs } from '../core/options.js';
import { openTyped, type TypedSegment } from '../core/typed-segment.js';
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

  /** @internal */
  protected override inspectState(): Record<string, unknown> {
    return { dtype: this.dtype };
  }

  /** Opens `name` as `kind`; with `options.dtype`, the object must have that dtype. */
  protected static openSegment(name: string, kind: KindCode, options: unknown): TypedSegment {
    const args = typedOpenArgs(name, options);
    const typed = openTyped(args.name, kind, args.timeout);
    if (args.dtype !== undefined && typed.dtype !== args.dtype) {
      typed.close();
      throw new ShmError(ErrorCodes.FORMAT, `${JSON.stringify(args.name)} holds ${typed.dtype.name}, not ${args.dtype.name}`);
    }
    return typed;
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

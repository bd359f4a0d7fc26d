import { type DType, type DTypeOf, type ElementOf, resolveDType, type TypeCode, toElement } from '../core/dtypes.js';
import { Kind } from '../core/format.js';
import { type CreateOptions, createArgs, type TypedOpenOptions } from '../core/options.js';
import { createTyped, type TypedSegment } from '../core/typed-segment.js';
import { TypedObject } from './typed-object.js';

/**
 * One number (or bigint, for the 64-bit integers) in shared memory, by name:
 * Python's `multiprocessing.Value`, reachable from any process on the host.
 *
 * ```js
 * const hits = Value.create('hits', 'int64', 0n);
 * hits.lock.withLockSync(() => { hits.value += 1n; });
 * ```
 */
export class Value<D extends DType = DType> extends TypedObject {
  private constructor(typed: TypedSegment) {
    super(typed);
  }

  /**
   * Creates a Value named `name` (`EEXIST` if the name exists).
   * @param dtype a dtype (`'int32'`, `'float64'`, ...) or Python typecode (`'i'`, `'d'`, ...)
   * @param initial the starting value (default 0); must fit the dtype
   */
  static create<T extends DType | TypeCode>(name: string, dtype: T, initial?: ElementOf<DTypeOf<T>>, options?: CreateOptions): Value<DTypeOf<T>> {
    const args = createArgs(name, options);
    const info = resolveDType(dtype);
    const start = toElement(info, initial === undefined ? (info.bigint ? 0n : 0) : initial);
    return new Value(createTyped(args.name, Kind.value, info, 1, args.mode, (data) => (data[0] = start)));
  }

  /**
   * Opens an existing Value; its dtype comes from the segment. Give
   * `options.dtype` to require one (`ERR_SHM_FORMAT` otherwise) and get
   * `.value` typed by it.
   */
  static open<T extends DType | TypeCode = DType>(name: string, options?: TypedOpenOptions<T>): Value<DTypeOf<T>> {
    return new Value(TypedObject.openSegment(name, Kind.value, options));
  }

  /**
   * The current value. Reads and writes are single plain loads and stores;
   * use `lock` (or Atomics on `Array`) for read-modify-write.
   * Setting checks the type and range (no silent wrap-around).
   */
  get value(): ElementOf<D> {
    const data = this.typed.data;
    if (data.length === 0) this.checkOpen();
    return data[0] as ElementOf<D>;
  }

  set value(v: ElementOf<D>) {
    const data = this.typed.data;
    if (data.length === 0) this.checkOpen(); // an open Value always has one element
    data[0] = toElement(this.typed.dtype, v) as never;
  }
}

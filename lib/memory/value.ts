import { type DType, type DTypeInfo, type DTypeOf, type ElementOf, resolveDType, type TypeCode, toElement } from '../core/dtypes.js';
import { Kind } from '../core/format.js';
import { openOrCreate, settle, shapeMismatch } from '../core/lifetime.js';
import { type CreateOptions, createArgs, type OpenOrCreateOptions, openTimeout, type TypedOpenOptions } from '../core/options.js';
import { createTyped, openTyped, type TypedSegment } from '../core/typed-segment.js';
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
  /** @internal */
  protected static override readonly kindCode = Kind.value;

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
    return settle(Value.#create(args.name, info, initial, args.mode), args.lifetime);
  }

  /**
   * Opens the Value `name` if it exists, else creates it as `create` would
   * (`initial` is used only then). Of several processes racing, one
   * creates and the others open what it made.
   * @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object, or a Value of another dtype
   */
  static openOrCreate<T extends DType | TypeCode>(name: string, dtype: T, initial?: ElementOf<DTypeOf<T>>, options?: OpenOrCreateOptions): Value<DTypeOf<T>> {
    const args = createArgs(name, options);
    const timeout = openTimeout(options);
    const info = resolveDType(dtype);
    const value = openOrCreate(
      () => new Value<DTypeOf<T>>(openTyped(args.name, Kind.value, timeout)),
      () => Value.#create(args.name, info, initial, args.mode) as Value<DTypeOf<T>>,
      (existing) => {
        if (existing.dtypeInfo !== info) throw shapeMismatch('Value', args.name, `dtype ${existing.dtype}`, `dtype ${info.name}`);
      },
    );
    return settle(value, args.lifetime);
  }

  static #create(name: string, info: DTypeInfo, initial: unknown, mode: number): Value {
    const start = toElement(info, initial === undefined ? (info.bigint ? 0n : 0) : initial);
    return new Value(createTyped(name, Kind.value, info, 1, mode, (data) => (data[0] = start)));
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

import { type DType, type DTypeInfo, type DTypeOf, resolveDType, type SharedTypedArray, type TypeCode, type TypedArrayOf, toElement } from '../core/dtypes.js';
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { openOrCreate, settle, shapeMismatch } from '../core/lifetime.js';
import { type CreateOptions, createArgs, type OpenOrCreateOptions, openTimeout, type TypedOpenOptions } from '../core/options.js';
import { createTyped, maxElements, openTyped, type TypedSegment } from '../core/typed-segment.js';
import { TypedObject } from './typed-object.js';

/** What `create` and `openOrCreate` take: a length (zero-filled), or the initial values. */
type LengthOrValues = number | Iterable<number | bigint> | ArrayLike<number | bigint>;

/**
 * A fixed-length array of numbers in shared memory, by name: Python's
 * `multiprocessing.Array`, reachable from any process on the host. `.array`
 * is a plain TypedArray over the shared bytes: reads and writes cost what a
 * local TypedArray's do, and `Atomics` works on the integer dtypes.
 *
 * Exported as both `Array` and `SharedArray` (for code that must not shadow
 * the global `Array`).
 */
export class SharedArray<D extends DType = DType> extends TypedObject {
  /** @internal */
  protected static override readonly kindCode = Kind.array;

  private constructor(typed: TypedSegment) {
    super(typed);
  }

  /**
   * Creates an Array named `name` (`EEXIST` if the name exists).
   * @param lengthOrValues a length (zero-filled), or an iterable / TypedArray of initial values
   */
  static create<T extends DType | TypeCode>(name: string, dtype: T, lengthOrValues: LengthOrValues, options?: CreateOptions): SharedArray<DTypeOf<T>> {
    const args = createArgs(name, options);
    const info = resolveDType(dtype);
    return settle(SharedArray.#create(args.name, info, initialContents(info, lengthOrValues), args.mode), args.lifetime);
  }

  /**
   * Opens the Array `name` if it exists, else creates it as `create` would
   * (initial values are written only then). Of several processes racing,
   * one creates and the others open what it made.
   * @param lengthOrValues a length, or initial values (their count is the length)
   * @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object, or an Array of another dtype or length
   */
  static openOrCreate<T extends DType | TypeCode>(
    name: string,
    dtype: T,
    lengthOrValues: LengthOrValues,
    options?: OpenOrCreateOptions,
  ): SharedArray<DTypeOf<T>> {
    const args = createArgs(name, options);
    const timeout = openTimeout(options);
    const info = resolveDType(dtype);
    const contents = initialContents(info, lengthOrValues);
    const array = openOrCreate(
      () => new SharedArray<DTypeOf<T>>(openTyped(args.name, Kind.array, timeout)),
      () => SharedArray.#create<DTypeOf<T>>(args.name, info, contents, args.mode),
      (existing) => {
        if (existing.dtypeInfo !== info || existing.length !== contents.count) {
          throw shapeMismatch('Array', args.name, `${existing.length} ${existing.dtype} elements`, `${contents.count} ${info.name} elements`);
        }
      },
    );
    return settle(array, args.lifetime);
  }

  static #create<D extends DType>(name: string, info: DTypeInfo, contents: InitialContents, mode: number): SharedArray<D> {
    return new SharedArray<D>(createTyped(name, Kind.array, info, contents.count, mode, contents.fill));
  }

  /**
   * Opens an existing Array; dtype and length come from the segment. Give
   * `options.dtype` to require one (`ERR_SHM_FORMAT` otherwise) and get
   * `.array` typed by it.
   */
  static open<T extends DType | TypeCode = DType>(name: string, options?: TypedOpenOptions<T>): SharedArray<DTypeOf<T>> {
    return new SharedArray(TypedObject.openSegment(name, Kind.array, options));
  }

  /**
   * The live TypedArray over shared memory (`Float64Array` for float64,
   * `BigInt64Array` for int64, ...). After `close()` it has length 0 and
   * throws on use.
   * @throws {ShmError} ERR_SHM_CLOSED after close
   */
  get array(): TypedArrayOf[D] {
    this.checkOpen();
    return this.typed.data as TypedArrayOf[D];
  }

  /** Number of elements. */
  get length(): number {
    return this.typed.count;
  }

  /** @internal */
  protected override inspectState(): Record<string, unknown> {
    return { dtype: this.dtype, length: this.length };
  }
}

/** What a new Array holds: its length, and `fill` writes its first values (else it is zero-filled). */
interface InitialContents {
  readonly count: number;
  readonly fill: (data: SharedTypedArray) => void;
}

function initialContents(dtype: DTypeInfo, lengthOrValues: unknown): InitialContents {
  if (typeof lengthOrValues === 'number') {
    return { count: checkCount(lengthOrValues, maxElements(dtype), 'length'), fill: () => {} }; // new segments are zero-filled
  }
  if (lengthOrValues instanceof dtype.ArrayType) {
    const source = lengthOrValues as SharedTypedArray;
    return { count: source.length, fill: (data) => data.set(source as never) };
  }
  if (lengthOrValues === null || (typeof lengthOrValues !== 'object' && typeof lengthOrValues !== 'string')) {
    throw invalidArg(`lengthOrValues must be a length or an iterable of ${dtype.name} values, got ${describeValue(lengthOrValues)}`);
  }
  const source = lengthOrValues as Iterable<unknown> | ArrayLike<unknown>;
  const iterable = typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function';
  if (typeof source === 'string' || (!iterable && typeof (source as ArrayLike<unknown>).length !== 'number')) {
    throw invalidArg(`lengthOrValues must be a length or an iterable of ${dtype.name} values`);
  }
  // The values are gathered in a JS array first, which holds at most 2^32 - 1.
  if (!iterable) checkCount((source as ArrayLike<unknown>).length, Math.min(maxElements(dtype), MAX_ARRAY_LENGTH), 'the length of an array-like');
  const values = Array.from(source as Iterable<unknown>, (v) => toElement(dtype, v));
  if (values.length > maxElements(dtype)) throw new ShmError(ErrorCodes.INVALID_SIZE, `too many values: ${values.length}`);
  return { count: values.length, fill: (data) => data.set(values as never) };
}

const MAX_ARRAY_LENGTH = 2 ** 32 - 1;

/** A number of elements: a safe integer from 0 to `limit`, else ERR_SHM_INVALID_SIZE. */
function checkCount(count: unknown, limit: number, what: string): number {
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0 || count > limit) {
    throw new ShmError(ErrorCodes.INVALID_SIZE, `${what} must be an integer from 0 to ${limit}, got ${describeValue(count)}`);
  }
  return count;
}

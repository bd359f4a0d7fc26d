import { describeValue, ErrorCodes, invalidArg, ShmError } from './errors.js';

type NumberArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

type BigIntArrayConstructor = BigInt64ArrayConstructor | BigUint64ArrayConstructor;

/** The element types of shared Values and Arrays. */
export type DType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64';

/**
 * Python `array`/`ctypes` typecodes accepted as aliases. `l`/`L` are 64-bit,
 * as a C `long` is on Linux and macOS (LP64); `i`/`I` are 32-bit.
 */
export type TypeCode = 'b' | 'B' | 'h' | 'H' | 'i' | 'I' | 'l' | 'L' | 'q' | 'Q' | 'f' | 'd';

/** The TypedArray each dtype reads and writes as. */
export interface TypedArrayOf {
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  float32: Float32Array;
  float64: Float64Array;
}

/** Element value of a dtype: bigint for the 64-bit integers, number otherwise. */
export type ElementOf<D extends DType> = D extends 'int64' | 'uint64' ? bigint : number;

/** Any shared TypedArray. */
export type SharedTypedArray = TypedArrayOf[DType];

export interface DTypeInfo {
  readonly name: DType;
  /** Stored in the segment header (docs/format.md). */
  readonly code: number;
  readonly bytes: number;
  readonly ArrayType: NumberArrayConstructor | BigIntArrayConstructor;
  readonly bigint: boolean;
  readonly integer: boolean;
  readonly min: number | bigint;
  readonly max: number | bigint;
}

function info(
  name: DType,
  code: number,
  ArrayType: NumberArrayConstructor | BigIntArrayConstructor,
  integer: boolean,
  min: number | bigint,
  max: number | bigint,
): DTypeInfo {
  return { name, code, bytes: ArrayType.BYTES_PER_ELEMENT, ArrayType, bigint: typeof min === 'bigint', integer, min, max };
}

const DTYPES: readonly DTypeInfo[] = [
  info('int8', 1, Int8Array, true, -(2 ** 7), 2 ** 7 - 1),
  info('uint8', 2, Uint8Array, true, 0, 2 ** 8 - 1),
  info('int16', 3, Int16Array, true, -(2 ** 15), 2 ** 15 - 1),
  info('uint16', 4, Uint16Array, true, 0, 2 ** 16 - 1),
  info('int32', 5, Int32Array, true, -(2 ** 31), 2 ** 31 - 1),
  info('uint32', 6, Uint32Array, true, 0, 2 ** 32 - 1),
  info('int64', 7, BigInt64Array, true, -(2n ** 63n), 2n ** 63n - 1n),
  info('uint64', 8, BigUint64Array, true, 0n, 2n ** 64n - 1n),
  info('float32', 9, Float32Array, false, -Infinity, Infinity),
  info('float64', 10, Float64Array, false, -Infinity, Infinity),
];

const TYPECODES: Record<TypeCode, DType> = {
  b: 'int8',
  B: 'uint8',
  h: 'int16',
  H: 'uint16',
  i: 'int32',
  I: 'uint32',
  l: 'int64',
  L: 'uint64',
  q: 'int64',
  Q: 'uint64',
  f: 'float32',
  d: 'float64',
};

const byName = new Map<string, DTypeInfo>(DTYPES.map((d) => [d.name, d]));
const byCode = new Map<number, DTypeInfo>(DTYPES.map((d) => [d.code, d]));

/** Resolves a dtype name or Python typecode. @throws {ShmError} ERR_SHM_INVALID_ARG */
export function resolveDType(dtype: unknown): DTypeInfo {
  const name = typeof dtype === 'string' ? (TYPECODES[dtype as TypeCode] ?? dtype) : undefined;
  const found = name === undefined ? undefined : byName.get(name);
  if (!found) {
    throw invalidArg(
      `unknown dtype ${describeValue(dtype)}: use one of ${DTYPES.map((d) => d.name).join(', ')} or a typecode (${Object.keys(TYPECODES).join(' ')})`,
    );
  }
  return found;
}

/** The dtype stored in a header, or undefined for an unknown code. */
export function dtypeFromCode(code: number): DTypeInfo | undefined {
  return byCode.get(code);
}

/**
 * Checks one element for a dtype and returns it in the form its TypedArray
 * stores: integers must be whole and in range (no silent wrap-around); the
 * 64-bit integers take a bigint or a safe-integer number.
 */
export function toElement(dtype: DTypeInfo, value: unknown): number | bigint {
  // Fast paths for the common, valid cases (a Value's setter calls this).
  if (typeof value === 'bigint') {
    if (dtype.name === 'int64' && BigInt.asIntN(64, value) === value) return value;
    if (dtype.name === 'uint64' && BigInt.asUintN(64, value) === value) return value;
  } else if (
    typeof value === 'number' &&
    !dtype.bigint &&
    (!dtype.integer || ((value | 0) === value && value >= (dtype.min as number) && value <= (dtype.max as number)))
  ) {
    return value;
  }
  if (dtype.bigint) {
    let big: bigint;
    if (typeof value === 'bigint') big = value;
    else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
    else throw invalidArg(`${dtype.name} takes a bigint (or a safe integer), got ${describeValue(value)}`);
    if (big < (dtype.min as bigint) || big > (dtype.max as bigint)) throw outOfRange(dtype, value);
    return big;
  }
  if (typeof value !== 'number') throw invalidArg(`${dtype.name} takes a number, got ${describeValue(value)}`);
  if (dtype.integer && (!Number.isInteger(value) || value < (dtype.min as number) || value > (dtype.max as number))) {
    throw outOfRange(dtype, value);
  }
  return value;
}

function outOfRange(dtype: DTypeInfo, value: unknown): ShmError {
  return new ShmError(ErrorCodes.INVALID_ARG, `${describeValue(value)} is not a ${dtype.name} (an integer from ${dtype.min} to ${dtype.max})`);
}

/** The dtype a name or typecode stands for, at the type level. */
export type DTypeOf<T extends DType | TypeCode> = T extends DType
  ? T
  : T extends 'b'
    ? 'int8'
    : T extends 'B'
      ? 'uint8'
      : T extends 'h'
        ? 'int16'
        : T extends 'H'
          ? 'uint16'
          : T extends 'i'
            ? 'int32'
            : T extends 'I'
              ? 'uint32'
              : T extends 'l' | 'q'
                ? 'int64'
                : T extends 'L' | 'Q'
                  ? 'uint64'
                  : T extends 'f'
                    ? 'float32'
                    : 'float64';

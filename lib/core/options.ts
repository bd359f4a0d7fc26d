// Argument checks of the typed objects' create() and open().
import { type DType, type DTypeInfo, resolveDType, type TypeCode } from './dtypes.js';
import { normalizeName } from './names.js';
import { DEFAULT_OPEN_TIMEOUT_MS } from './typed-segment.js';
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

/** Options of `Value.open` and `Array.open`. */
export interface TypedOpenOptions<T extends DType | TypeCode = DType> extends OpenOptions {
  /**
   * The dtype the caller expects (a name or typecode): the object must have
   * it (else `ERR_SHM_FORMAT`), and the result is typed by it.
   */
  dtype?: T;
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

export function typedOpenArgs(name: unknown, options: unknown): { name: string; timeout: number; dtype: DTypeInfo | undefined } {
  const args = openArgs(name, options);
  const dtype = (options as TypedOpenOptions | undefined)?.dtype;
  return { ...args, dtype: dtype === undefined ? undefined : resolveDType(dtype) };
}

// Argument checks of the typed objects' create() and open().
import { type DType, type DTypeInfo, resolveDType, type TypeCode } from './dtypes.js';
import { describeValue, invalidArg } from './errors.js';
import type { Lifetime } from './lifetime.js';
import { normalizeName } from './names.js';
import { Scope } from './scope.js';
import { DEFAULT_OPEN_TIMEOUT_MS } from './typed-segment.js';
import { checkBoolean, checkInteger, checkObject, checkTimeout } from './validate.js';

/** How long the name lives: options of every `create` and `openOrCreate` (README, "Lifetime of names"). */
export interface LifetimeOptions {
  /**
   * Remove the name when this process ends: at its normal exit, and on
   * SIGINT, SIGTERM or SIGHUP (after which the signal ends the process as
   * before, unless the program listens for it). Whoever else has the object
   * open keeps using it. Default false: the name lives until someone
   * unlinks it.
   */
  unlinkOnExit?: boolean;
  /** A Scope that takes the new handle: closing it closes the handle and removes the name (if no other process holds the object). */
  scope?: Scope;
}

/** Options of `create`. */
export interface CreateOptions extends LifetimeOptions {
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

/** Options of `openOrCreate`: those of `create`, and the `timeout` of `open` (for a creator still initialising it). */
export interface OpenOrCreateOptions extends CreateOptions, OpenOptions {}

export function createArgs(name: unknown, options: unknown, maxLength?: number): { name: string; mode: number; lifetime: Lifetime } {
  const opts = checkObject<CreateOptions>(options, 'options');
  const mode = opts.mode === undefined ? 0o600 : checkInteger(opts.mode, 'options.mode', 0, 0o777);
  return { name: normalizeName(name, maxLength), mode, lifetime: lifetimeArgs(opts) };
}

/** unlinkOnExit and scope, checked before anything is created. */
export function lifetimeArgs(opts: LifetimeOptions): Lifetime {
  const unlinkOnExit = checkBoolean(opts.unlinkOnExit, 'options.unlinkOnExit', false);
  const scope = opts.scope;
  if (scope !== undefined && !(scope instanceof Scope)) throw invalidArg(`options.scope must be a Scope, got ${describeValue(scope)}`);
  scope?.checkOpen();
  return { unlinkOnExit, scope };
}

/** The timeout of `open` (and of `openOrCreate`'s open). */
export function openTimeout(options: unknown): number {
  const opts = checkObject<OpenOptions>(options, 'options');
  return opts.timeout === undefined ? DEFAULT_OPEN_TIMEOUT_MS : checkTimeout(opts.timeout, 'options.timeout');
}

export function openArgs(name: unknown, options: unknown): { name: string; timeout: number } {
  const timeout = openTimeout(options);
  return { name: normalizeName(name), timeout };
}

export function typedOpenArgs(name: unknown, options: unknown): { name: string; timeout: number; dtype: DTypeInfo | undefined } {
  const args = openArgs(name, options);
  const dtype = (options as TypedOpenOptions | undefined)?.dtype;
  return { ...args, dtype: dtype === undefined ? undefined : resolveDType(dtype) };
}

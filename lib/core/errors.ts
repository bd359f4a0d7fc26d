import { constants as osConstants } from 'node:os';

/**
 * Stable codes for errors that shmkit raises itself. System errors use the
 * errno name instead (`ENOENT`, `EEXIST`, `EACCES`, `ENOSPC`, ...), as Node's
 * `fs` does.
 */
export const ErrorCodes = {
  /** An argument has the wrong type or an impossible value. */
  INVALID_ARG: 'ERR_SHM_INVALID_ARG',
  /** A segment or semaphore name is empty, too long, or has characters outside `[A-Za-z0-9._-]`. */
  INVALID_NAME: 'ERR_SHM_INVALID_NAME',
  /** A size is not a positive safe integer, or is larger than the segment. */
  INVALID_SIZE: 'ERR_SHM_INVALID_SIZE',
  /** The object was closed; its memory is no longer mapped. */
  CLOSED: 'ERR_SHM_CLOSED',
  /** An existing segment has size 0 (its creator has not sized it yet). */
  EMPTY_SEGMENT: 'ERR_SHM_EMPTY',
  /**
   * A segment is not a shmkit object of the kind asked for, its header
   * disagrees with its size, or its creator never marked it ready.
   */
  FORMAT: 'ERR_SHM_FORMAT',
  /** A shmkit object written in another format version than this shmkit reads (a newer one, or an older one since a format change). */
  VERSION: 'ERR_SHM_VERSION',
  /** Releasing a lock this handle does not hold. */
  NOT_OWNER: 'ERR_SHM_NOT_OWNER',
  /** Acquiring a non-reentrant Lock this handle already holds, or a blocking Queue call while an async one of the same handle holds the lock it needs (it would deadlock). */
  WOULD_DEADLOCK: 'ERR_SHM_WOULD_DEADLOCK',
  /** An acquire or wait given up at its timeout, where a boolean cannot say so (e.g. `hold()`); a Pool call past its `timeout` (its running task ended). */
  TIMEOUT: 'ERR_SHM_TIMEOUT',
  /** A wait cancelled by its AbortSignal (the error's `name` is 'AbortError'). */
  ABORTED: 'ABORT_ERR',
  /** Releasing a BoundedSemaphore past its initial value. */
  SEMAPHORE_BOUND: 'ERR_SHM_SEMAPHORE_BOUND',
  /** A Barrier was aborted, reset, or timed out while this party waited. */
  BROKEN_BARRIER: 'ERR_SHM_BROKEN_BARRIER',
  /** Queue.put could not add a message before its timeout (or at once, for putNowait). */
  QUEUE_FULL: 'ERR_SHM_QUEUE_FULL',
  /** Queue.get found no message before its timeout (or at once, for getNowait). */
  QUEUE_EMPTY: 'ERR_SHM_QUEUE_EMPTY',
  /** A message larger than the ring can ever hold. */
  MESSAGE_TOO_LARGE: 'ERR_SHM_MESSAGE_TOO_LARGE',
  /** The other end of a Pipe closed (or died): no more messages will come, or none can be delivered. */
  PIPE_CLOSED: 'ERR_SHM_PIPE_CLOSED',
  /** Pipe.open of a pipe whose other end is already open in a live process. */
  PIPE_BUSY: 'ERR_SHM_PIPE_BUSY',
  /** Queue#getView while 32 views of that queue are held at once (by all its consumers): release one first. */
  TOO_MANY_VIEWS: 'ERR_SHM_TOO_MANY_VIEWS',
  /**
   * A Pool worker process died (killed, crashed, exited) while it held a task, or,
   * for a task still waiting, 8 workers in a row died while starting; the error has `exitCode`, `signal` and `pid`.
   */
  WORKER_DIED: 'ERR_SHM_WORKER_DIED',
  /** A Pool worker reported that its task module failed to load or its initializer threw: the pool stops. */
  WORKER_START: 'ERR_SHM_WORKER_START',
  /** A SharedMap or SharedList could not grow for a write (its `maxSize`, the 4 GiB a Node 20 mapping allows, or a full /dev/shm): nothing was changed. */
  MAP_FULL: 'ERR_SHM_MAP_FULL',
  /** The platform cannot do this (e.g. a semaphore's value on macOS). */
  UNSUPPORTED: 'ERR_SHM_UNSUPPORTED',
  /** The runtime refuses external ArrayBuffers (Electron 21+). */
  EXTERNAL_BUFFERS: 'ERR_SHM_EXTERNAL_BUFFERS',
  /** Something inside the addon failed that should not (a bug: please report it with the message). */
  NATIVE: 'ERR_SHM_NATIVE',
} as const;

/** An errno name (`ENOENT`, `EACCES`, ...): the code of a failed system call. */
export type SystemErrorCode = keyof typeof osConstants.errno;

/** Every `code` a ShmError can have: one of {@link ErrorCodes}, or an errno name. */
export type ShmErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes] | SystemErrorCode;

/**
 * The one error class shmkit throws. `code` is stable: an `ERR_SHM_*` code
 * for misuse, or the errno name for a failed system call (then `errno` and
 * `syscall` are set too; `errno` is negative, as Node's `fs` gives it: -2
 * for ENOENT).
 */
export class ShmError extends Error {
  readonly code: ShmErrorCode;
  readonly errno?: number;
  readonly syscall?: string;

  constructor(code: ShmErrorCode, message: string, details: { errno?: number; syscall?: string; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ShmError';
    this.code = code;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.syscall !== undefined) this.syscall = details.syscall;
  }
}

// The first name for each number: EAGAIN, not its alias EWOULDBLOCK.
const errnoNames = new Map<number, SystemErrorCode>();
for (const [name, value] of Object.entries(osConstants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name as SystemErrorCode);

/**
 * The error the addon throws for a failed system call (`errno`, positive, as
 * the system gives it, and `syscall`) or for misuse only it can see (`code`).
 * lib/core/native.ts hands this to the addon at load (native/core/errors.h), so
 * C++ throws the final ShmError: the errno's name is its code.
 */
export function nativeError(errno: number | undefined, syscall: string | undefined, message: string, code: string | undefined): ShmError {
  if (typeof errno === 'number') {
    // Node's fs and libuv give errno negative, and so does a ShmError.
    const positive = Math.abs(errno);
    // An errno this Node has no name for keeps its number, under ERR_SHM_NATIVE (codes stay a closed set).
    const name = errnoNames.get(positive) ?? ErrorCodes.NATIVE;
    return new ShmError(name, `${name}: ${message}`, { errno: -positive, syscall });
  }
  const known = (Object.values(ErrorCodes) as string[]).includes(code ?? '');
  return new ShmError(known ? (code as ShmErrorCode) : ErrorCodes.NATIVE, message);
}

/**
 * What a native call threw, as a ShmError, with what the caller was doing
 * added to its message. The addon throws ShmErrors itself; anything else
 * (node-addon-api's own argument checks: a bug) becomes ERR_SHM_NATIVE with
 * the original as its cause.
 */
export function fromNative(err: unknown, context?: string): ShmError {
  const error = err instanceof ShmError ? err : strayError(err);
  if (context === undefined) return error;
  return new ShmError(error.code, `${error.message} (${context})`, { errno: error.errno, syscall: error.syscall, cause: error.cause });
}

/** Whether `err` is a ShmError with this code (an errno's name for a failed system call). */
export function hasCode(err: unknown, code: ShmErrorCode): boolean {
  return err instanceof ShmError && err.code === code;
}

function strayError(err: unknown): ShmError {
  const e = err as { message?: string; errno?: number; syscall?: string; code?: string } | undefined;
  if (typeof e?.errno === 'number') return nativeError(e.errno, e.syscall, e.message ?? 'system call failed', undefined);
  const message = typeof e?.message === 'string' ? e.message : describeValue(err);
  const known = (Object.values(ErrorCodes) as string[]).includes(e?.code ?? '');
  return new ShmError(known ? (e?.code as ShmErrorCode) : ErrorCodes.NATIVE, message, { cause: known ? undefined : err });
}

/**
 * A value as an error message shows it. Never throws, whatever the value
 * (a bigint, a null-prototype object, a Proxy, a throwing getter): an
 * error about a bad argument must not become a TypeError itself.
 */
export function describeValue(value: unknown): string {
  try {
    switch (typeof value) {
      case 'string':
        return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
      case 'bigint':
        return `${value}n`;
      case 'number':
      case 'boolean':
      case 'undefined':
        return String(value);
      case 'symbol':
        return value.description === undefined ? 'a symbol' : `Symbol(${value.description})`;
      case 'function':
        return 'a function';
      default:
        if (value === null) return 'null';
        return Array.isArray(value) ? 'an array' : `an object (${Object.prototype.toString.call(value)})`;
    }
  } catch {
    return 'a value that cannot be shown';
  }
}

export function invalidArg(message: string): ShmError {
  return new ShmError(ErrorCodes.INVALID_ARG, message);
}

/**
 * What `create` throws when the name exists: what to do about it, for the
 * second run of a program that created it and did not remove it. `opener`
 * is how that kind is opened (`Queue.open`, `new SharedMemory`).
 */
export function existsError(err: ShmError, what: string, name: string, opener = `${what}.open`): ShmError {
  const q = JSON.stringify(name);
  return new ShmError(
    err.code,
    `EEXIST: cannot create ${what} ${q}: the name exists already (left by an earlier run?). ` +
      `Open it with ${opener}(${q}), or call ${what}.openOrCreate to create it only when it is missing; ` +
      `remove a leftover with \`shmkit rm ${name}\`; create with { unlinkOnExit: true } to have the name removed when this process ends`,
    { errno: err.errno, syscall: err.syscall },
  );
}

/** What `open` throws when the name does not exist. */
export function missingError(err: ShmError, what: string, name: string): ShmError {
  const q = JSON.stringify(name);
  return new ShmError(
    err.code,
    `ENOENT: ${what} ${q} does not exist (never created, or unlinked since). ` +
      `Create it with ${what}.create, or call ${what}.openOrCreate to open it if it exists and create it if not`,
    { errno: err.errno, syscall: err.syscall },
  );
}

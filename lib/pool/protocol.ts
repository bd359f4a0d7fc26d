// What a Pool and its workers say to each other over each worker's Pipe.
//
// Parent -> worker: first a Setup object, then task batches. A batch is one
// flat array [id, mode, fn, payload, id, mode, fn, payload, ...]: many tiny
// tasks cost one message (one v8.serialize) instead of one each.
//
// Worker -> parent: answers, flat as [id, status, value, micros, ...] for
// tasks of one batch (sent at the batch's end, or sooner: worker.ts). Before
// each task the worker counts it in its progress word (a one-element shared
// Float64Array beside the pipe), so when it dies the parent knows what it
// held: the unanswered tasks it had started (they ran, or were running).
// The rest never started and go to another worker. Plus READY once the
// module and initializer ran, or FATAL if they failed.
import { ErrorCodes, ShmError, type ShmErrorCode } from '../core/errors.js';
import { unlinkSegment } from '../core/segment.js';

/** How a task's payload is applied to its function. */
export const Mode = {
  /** payload is one argument list: fn(...payload). */
  call: 0,
  /** payload is a chunk of items: [fn(item) for each item]. */
  each: 1,
  /** payload is a chunk of argument lists: [fn(...args) for each]. */
  eachSpread: 2,
} as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

/** The name of a worker's progress word (tasks started, in all), beside its pipe's. */
export function progressName(pipeName: string): string {
  return `${pipeName}p`;
}

/**
 * Removes the names of a worker's pipe and progress word. The worker does
 * it once it has opened them; the parent again when the worker ends or is
 * killed, in case it never got that far. Already gone is fine.
 */
export function removeNames(pipeName: string): void {
  for (const name of [pipeName, progressName(pipeName)]) {
    try {
      unlinkSegment(name);
    } catch {
      // removed already
    }
  }
}

/**
 * The error of a task's arguments, result or the setup message that cannot
 * go to the other process, in terms of the Pool's options (its `capacity`),
 * not of the pipe underneath. Other errors (end of stream) are returned as
 * they are.
 */
export function crossingError(err: unknown, what: string, capacity: number): unknown {
  if (!(err instanceof ShmError)) return err;
  if (err.code === ErrorCodes.MESSAGE_TOO_LARGE) {
    return new ShmError(
      ErrorCodes.MESSAGE_TOO_LARGE,
      `${what} is larger than the pool's pipes carry (options.capacity: ${capacity} bytes each way): create the Pool with a larger capacity`,
    );
  }
  if (err.code === ErrorCodes.INVALID_ARG) return new ShmError(ErrorCodes.INVALID_ARG, `${what} cannot go to another process: ${err.message}`, { cause: err });
  return err;
}

/** Fields per task in a batch. */
export const TASK_FIELDS = 4;

/** The first message to a worker. */
export interface Setup {
  /** The task module's file URL. */
  module: string;
  /** Name of an exported function to run once before any task. */
  initializer: string | undefined;
  initargs: unknown[];
  /** Tasks (batch entries) after which the worker exits; 0 for no limit. */
  maxTasks: number;
  /** The Pool's `capacity` option, for the errors of results too large. */
  capacity: number;
}

/** Status of a reply (its second field). */
export const Status = {
  failed: 0,
  ok: 1,
  /** [READY]: the module loaded and the initializer ran. */
  ready: 2,
  /** [FATAL, record]: the worker could not start. */
  fatal: 3,
} as const;

/** Fields per answer: id, Status.ok or Status.failed, the value or an ErrorRecord, microseconds the task took. */
export const REPLY_FIELDS = 4;

/** Answers (REPLY_FIELDS each, ids > 0), or [-1, Status.ready], or [-1, Status.fatal, ErrorRecord]. */
export type Reply = unknown[];

/**
 * An exception as it crosses to the parent: an Error's name, message, stack
 * and own cloneable properties (`code`, `errno`, ...), or a thrown non-Error
 * value as itself when it can be cloned.
 */
export type ErrorRecord =
  | { error: true; name: string; message: string; stack: string | undefined; props: Record<string, unknown> }
  | { error: false; value: unknown };

/** Records what a task threw, for the parent to rebuild. Never throws. */
export function recordError(thrown: unknown, canClone: (value: unknown) => boolean): ErrorRecord {
  if (!(thrown instanceof Error)) {
    return canClone(thrown) ? { error: false, value: thrown } : { error: false, value: describeThrown(thrown) };
  }
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    const value = (thrown as unknown as Record<string, unknown>)[key];
    if (canClone(value)) props[key] = value;
  }
  return { error: true, name: String(thrown.name), message: String(thrown.message), stack: thrown.stack, props };
}

const BUILTIN_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/**
 * Rebuilds a task's exception in the parent: the same built-in class where
 * the name is one (so `instanceof TypeError` holds), a ShmError for a
 * ShmError (the pool's own errors about a task, and shmkit's in the task),
 * else an Error with the worker's name; message, stack and properties as the
 * worker had them.
 */
export function rebuildError(record: ErrorRecord): unknown {
  if (!record.error) return record.value;
  const code = record.props.code;
  const err =
    record.name === 'ShmError' && typeof code === 'string'
      ? new ShmError(code as ShmErrorCode, record.message)
      : new (BUILTIN_ERRORS[record.name] ?? Error)(record.message);
  if (err.name !== record.name) Object.defineProperty(err, 'name', { value: record.name, configurable: true, writable: true });
  Object.assign(err, record.props);
  if (record.stack !== undefined) err.stack = record.stack;
  return err;
}

function describeThrown(value: unknown): string {
  try {
    return String(value);
  } catch {
    return 'a value that cannot be shown';
  }
}

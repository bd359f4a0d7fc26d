// What a Pool and its workers say to each other over each worker's Pipe.
//
// Parent -> worker: first a Setup object, then task batches. A batch is one
// flat array [seq, id, mode, fn, payload, id, mode, fn, payload, ...]: many
// tiny tasks cost one message (one v8.serialize) instead of one each. `seq`
// numbers the batch's first task among all those sent to this worker; the
// rest follow on.
//
// Worker -> parent: answers, flat as [id, status, value, micros, ...] for
// tasks of one batch (sent at the batch's end, or sooner: worker.ts). Plus
// READY once the module and initializer ran, or FATAL if they failed.
//
// Claims: beside the pipe, a shared Int32Array of CLAIMS words holds, for
// each task sent (at seq & (CLAIMS - 1)), the task's seq and its state:
// SENT by the parent, then STARTED by the worker (which runs it only if that
// compare-and-swap succeeds) or REVOKED by the parent (which takes it back
// only if its compare-and-swap succeeds), then DONE. So the parent can take
// back any task not yet started, at any time, for another worker, and knows
// when a worker dies which of its unanswered tasks had started (they ran, or
// were running); a task never runs twice.
import { serialize } from 'node:v8';
import type { ProcessInfo } from '../core/current.js';
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

/** Flag of a task's mode: it may be ended by killing its worker (its call has a signal or a timeout), so answers gathered before it go first. */
export const ENDABLE = 8;

/** Flag of a task's mode: its payload holds descriptions of shmkit handles (lib/core/transfer.ts), opened for the task. */
export const HANDLES = 16;

/** The name of a worker's claim words, beside its pipe's. */
export function claimsName(pipeName: string): string {
  return `${pipeName}p`;
}

/**
 * Claim words per worker: more than the tasks it can hold unanswered (two
 * batches of at most 256), so a slot is reused only for a task sent long
 * after the one before it there was answered or taken back.
 */
export const CLAIMS = 4096;

/** A claim word's state (its low two bits). */
export const Claim = {
  sent: 0,
  started: 1,
  done: 2,
  revoked: 3,
} as const;
export type Claim = (typeof Claim)[keyof typeof Claim];

/**
 * The claim word of task `seq` in `state`: the seq's low 29 bits above the
 * state, a non-negative int32. A stale word (an older task that used the
 * slot, taken back and not yet skipped by the worker) never equals a newer
 * task's, since fewer than 2^29 tasks are sent between the two.
 */
function claimWord(seq: number, state: Claim): number {
  return ((seq & 0x1fffffff) << 2) | state;
}

/**
 * One worker's claim words, as both sides move them: the parent marks a
 * task SENT and may revoke it, the worker starts it and marks it DONE, each
 * move of a SENT word a compare-and-swap, so only one side wins it.
 */
export class ClaimWords {
  readonly #words: Int32Array;

  constructor(words: Int32Array) {
    this.#words = words;
  }

  /** Marks task `seq` SENT (the parent, before the batch that holds it goes). */
  markSent(seq: number): void {
    Atomics.store(this.#words, seq & (CLAIMS - 1), claimWord(seq, Claim.sent));
  }

  /** Moves task `seq` from SENT to `to` (STARTED by the worker, REVOKED by the parent); false if it was not SENT. */
  claim(seq: number, to: typeof Claim.started | typeof Claim.revoked): boolean {
    const sent = claimWord(seq, Claim.sent);
    return Atomics.compareExchange(this.#words, seq & (CLAIMS - 1), sent, claimWord(seq, to)) === sent;
  }

  /** Marks task `seq` DONE (the worker, once it answered it). */
  markDone(seq: number): void {
    Atomics.store(this.#words, seq & (CLAIMS - 1), claimWord(seq, Claim.done));
  }

  /** Task `seq`'s state: STARTED or DONE, else SENT (revoked, or its word not yet written). */
  state(seq: number): Claim {
    const word = Atomics.load(this.#words, seq & (CLAIMS - 1));
    return word === claimWord(seq, Claim.started) ? Claim.started : word === claimWord(seq, Claim.done) ? Claim.done : Claim.sent;
  }
}

/**
 * Removes the names of a worker's pipe and claim words. The worker does
 * it once it has opened them; the parent again when the worker ends or is
 * killed, in case it never got that far. Already gone is fine.
 */
export function removeNames(pipeName: string): void {
  for (const name of [pipeName, claimsName(pipeName)]) {
    try {
      unlinkSegment(name);
    } catch {
      // removed already
    }
  }
}

/**
 * The error of a task's arguments, result or the setup message that cannot
 * go to the other process, in terms of the Pool's options (its `capacity`)
 * and of the value (what structured clone refused in it), not of the pipe
 * underneath. Other errors (end of stream) are returned as they are.
 */
export function crossingError(err: unknown, what: string, capacity: number, value?: unknown, chunked = false): unknown {
  if (!(err instanceof ShmError)) return err;
  if (err.code === ErrorCodes.MESSAGE_TOO_LARGE) {
    return new ShmError(
      ErrorCodes.MESSAGE_TOO_LARGE,
      `${what} is larger than the pool's pipes carry (options.capacity: ${capacity} bytes each way): create the Pool with a larger capacity${chunked ? ', or pass a smaller chunksize' : ''}`,
    );
  }
  if (err.code === ErrorCodes.INVALID_ARG) {
    const why = cloneFailure(value) ?? err.message;
    return new ShmError(ErrorCodes.INVALID_ARG, `${what} cannot go to another process: ${why} (arguments and results must be structured-cloneable)`, {
      cause: err,
    });
  }
  return err;
}

/** Whether structured clone takes `value`. */
export function canClone(value: unknown): boolean {
  return cloneFailure(value) === undefined;
}

/** What structured clone says about `value`, if it refuses it. */
function cloneFailure(value: unknown): string | undefined {
  try {
    serialize(value);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : describeThrown(err);
  }
}

/** How a task is named in the errors about its arguments, result or exception: `"fn"`, or a chunk of items for it. */
export function describeTask(fn: string, mode: Mode, items: number): string {
  return mode === Mode.call ? JSON.stringify(fn) : `a chunk of ${items} item${items === 1 ? '' : 's'} for ${JSON.stringify(fn)}`;
}

/** Fields before the tasks of a batch: the seq of its first task. */
export const BATCH_HEADER = 1;

/** Where each field of a task is in a batch, from its first (tasks lie TASK_FIELDS apart after BATCH_HEADER). */
export const TaskField = {
  id: 0,
  /** A Mode, with the flags ENDABLE and HANDLES. */
  mode: 1,
  fn: 2,
  payload: 3,
} as const;

/** Fields per task in a batch (TaskField). */
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
  /** The process that made the pool, for the workers' `parentProcess()`. */
  parent: ProcessInfo;
}

/** Status of a reply (its second field). */
export const Status = {
  failed: 0,
  ok: 1,
  /** [READY]: the module loaded and the initializer ran. */
  ready: 2,
  /** [FATAL, record]: the worker could not start. */
  fatal: 3,
  /** As ok, and the value holds descriptions of shmkit handles (lib/core/transfer.ts), opened by the receiver. */
  okHandles: 4,
} as const;

/** Where each field of an answer is, from its first (answers lie REPLY_FIELDS apart in a Reply). */
export const ReplyField = {
  id: 0,
  /** Status.ok, Status.okHandles or Status.failed. */
  status: 1,
  /** The value, or an ErrorRecord. */
  value: 2,
  /** Microseconds the task took, by the worker's clock. */
  micros: 3,
} as const;

/** Fields per answer (ReplyField). */
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

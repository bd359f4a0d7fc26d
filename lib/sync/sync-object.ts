// What the named synchronization objects (Event, Condition, Barrier) share:
// a typed segment of int32 words, create/open by name, close/unlink, and
// sleeping on one of those words until it changes, a deadline or an abort.
import { checkSignal, settle } from './abort.js';
import { resolveDType } from '../core/dtypes.js';
import { ErrorCodes, ShmError, sys } from '../core/errors.js';
import type { KindCode } from '../core/format.js';
import { native } from '../core/native.js';
import { createArgs, openArgs, type CreateOptions, type OpenOptions } from '../core/options.js';
import { SegmentHandle } from '../core/handle.js';
import { createTyped, openTyped, type TypedSegment } from '../core/typed-segment.js';
import { checkObject, checkTimeout } from '../core/validate.js';

const INT32 = resolveDType('int32');

/** Options of a wait. */
export interface SyncWaitOptions {
  /** Milliseconds; omitted or Infinity waits for ever. */
  timeout?: number;
  /** Cancels the wait (async forms only): it rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface ParsedWait {
  deadline: number;
  signal: AbortSignal | undefined;
}

export function parseWait(options: unknown): ParsedWait {
  const opts = checkObject<SyncWaitOptions>(options, 'options');
  const timeout = checkTimeout(opts.timeout, 'options.timeout');
  return { deadline: performance.now() + timeout, signal: checkSignal(opts.signal) };
}

/**
 * Sleeps while `words[index] === expected`, at most until `deadline`
 * (performance.now() ms). False if the deadline passed first; true when
 * woken or the word differs (callers re-check: wakes may be spurious).
 */
export async function sleepAsync(words: Int32Array, index: number, expected: number, wait: ParsedWait): Promise<boolean> {
  wait.signal?.throwIfAborted();
  const remaining = wait.deadline - performance.now();
  if (remaining <= 0) return false;
  return (await settle(sys(() => native.waitAsync(words, index, expected, remaining)), wait.signal)) !== 'timed-out';
}

/** `sleepAsync` blocking this thread. */
export function sleepSync(words: Int32Array, index: number, expected: number, wait: ParsedWait): boolean {
  const remaining = wait.deadline - performance.now();
  if (remaining <= 0) return false;
  return sys(() => native.wait(words, index, expected, remaining)) !== 'timed-out';
}

export function wakeAll(words: Int32Array, index: number): void {
  sys(() => native.notify(words, index, 2 ** 31 - 1));
}

/** A named object of `words` int32 words in a typed segment. */
export abstract class SyncObject extends SegmentHandle {
  /** The object's int32 words in shared memory. */
  protected readonly words: Int32Array;

  protected constructor(typed: TypedSegment) {
    super(typed);
    this.words = typed.data as Int32Array;
  }

  protected static createSegment(name: string, kind: KindCode, words: number, options: CreateOptions | undefined, init: (words: Int32Array) => void): TypedSegment {
    const args = createArgs(name, options);
    return createTyped(args.name, kind, INT32, words, args.mode, (data) => init(data as Int32Array));
  }

  protected static openSegment(name: string, kind: KindCode, words: number, options: OpenOptions | undefined): TypedSegment {
    const args = openArgs(name, options);
    const typed = openTyped(args.name, kind, args.timeout);
    if (typed.count !== words) {
      typed.close();
      throw new ShmError(ErrorCodes.FORMAT, `${JSON.stringify(args.name)} has ${typed.count} words; this shmkit expects ${words}`);
    }
    return typed;
  }

}

// What the named synchronization objects (Event, Condition, Barrier,
// BoundedSemaphore) share: a typed segment of int32 words, created and opened
// by name, and waits that end true, or false on timeout.
import { resolveDType } from '../core/dtypes.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import type { KindCode } from '../core/format.js';
import { SegmentHandle } from '../core/handle.js';
import { openOrCreate, settle } from '../core/lifetime.js';
import { native } from '../core/native.js';
import { type CreateOptions, createArgs, type OpenOptions, type OpenOrCreateOptions, openArgs, openTimeout } from '../core/options.js';
import { createTyped, openTyped, type TypedSegment } from '../core/typed-segment.js';
import { INT32_MAX } from '../core/validate.js';
import { type SharedWord, sharedWordKey } from './sleep-group.js';
import { parseWaitOptions, Spinner, TIMED_OUT, type WaitOptions, type WaitPlan, waitAsync, waitSync } from './waiting.js';

const INT32 = resolveDType('int32');

/** Wakes every waiter on `words[index]`, in every process. */
export function wakeAll(words: Int32Array, index: number): void {
  native.notify(words, index, INT32_MAX);
}

/** What a class of SyncObject is made of: its kind, the words an existing one has, and its handle over a segment. */
export interface SyncKind<T extends SyncObject> {
  readonly code: KindCode;
  /** How many int32 words an existing one must have (a function: from what its words say). */
  readonly words: number | ((data: Int32Array) => number);
  readonly make: (typed: TypedSegment) => T;
}

/** The words of a new object: how many, and what `init` writes in them (else they start at 0). */
export interface NewWords {
  readonly count: number;
  readonly init?: (words: Int32Array) => void;
}

/** A named object of int32 words in a typed segment. */
export abstract class SyncObject extends SegmentHandle {
  /** @internal The object's int32 words in shared memory. */
  protected readonly words: Int32Array;
  /** @internal How this handle's waits spin before they sleep (it learns from how they went). */
  protected readonly spinner = new Spinner();

  protected constructor(typed: TypedSegment) {
    super(typed);
    this.words = typed.data as Int32Array;
  }

  /**
   * @internal How this process's async waits on `words[index]` sleep
   * together (sleep-group.ts): `admit` says how many may proceed now.
   */
  protected sharedWord(index: number, admit: () => number, sliceMs?: number): SharedWord {
    const segment = this.typed.segment;
    return { key: sharedWordKey(segment, this.words, index), segment, admit, sliceMs };
  }

  /** @internal Waits until `plan` succeeds, without blocking the event loop. @returns false if the timeout passed first. */
  protected async waitUntil(plan: WaitPlan<true>, options: WaitOptions | undefined): Promise<boolean> {
    this.checkOpen();
    return (await waitAsync(this, plan, parseWaitOptions(options), this.spinner)) !== TIMED_OUT;
  }

  /** @internal `waitUntil` blocking this thread. */
  protected waitUntilSync(plan: WaitPlan<true>, options: WaitOptions | undefined): boolean {
    this.checkOpen();
    return waitSync(this, plan, parseWaitOptions(options), this.spinner) !== TIMED_OUT;
  }

  /** Creates `name` as `kind`, with the words `fresh` says, and the lifetime `options` ask. */
  protected static createObject<T extends SyncObject>(name: string, kind: SyncKind<T>, fresh: NewWords, options: CreateOptions | undefined): T {
    const args = createArgs(name, options);
    return settle(kind.make(createWords(args.name, kind.code, fresh, args.mode)), args.lifetime);
  }

  /** Opens the existing `name` as `kind`. */
  protected static openObject<T extends SyncObject>(name: string, kind: SyncKind<T>, options: OpenOptions | undefined): T {
    const args = openArgs(name, options);
    return kind.make(openWords(args.name, kind, args.timeout));
  }

  /**
   * openOrCreate of a kind: opens `name` if it exists (as `check` accepts),
   * else creates it as createObject does.
   */
  protected static openOrCreateObject<T extends SyncObject>(
    name: string,
    kind: SyncKind<T>,
    fresh: NewWords,
    options: OpenOrCreateOptions | undefined,
    check?: (handle: T) => void,
  ): T {
    const args = createArgs(name, options);
    const timeout = openTimeout(options);
    const handle = openOrCreate(
      () => kind.make(openWords(args.name, kind, timeout)),
      () => kind.make(createWords(args.name, kind.code, fresh, args.mode)),
      check,
    );
    return settle(handle, args.lifetime);
  }
}

function createWords(name: string, code: KindCode, fresh: NewWords, mode: number): TypedSegment {
  return createTyped(name, code, INT32, fresh.count, mode, (data) => fresh.init?.(data as Int32Array));
}

function openWords(name: string, kind: SyncKind<SyncObject>, timeout: number): TypedSegment {
  const typed = openTyped(name, kind.code, timeout);
  const expected = typeof kind.words === 'number' ? kind.words : kind.words(typed.data as Int32Array);
  if (typed.count !== expected) {
    typed.close();
    throw new ShmError(ErrorCodes.FORMAT, `${JSON.stringify(name)} has ${typed.count} words; this shmkit expects ${expected}`);
  }
  return typed;
}

// What the named synchronization objects (Event, Condition, Barrier) share:
// a typed segment of int32 words, created and opened by name.
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

const INT32 = resolveDType('int32');

/** Wakes every waiter on `words[index]`, in every process. */
export function wakeAll(words: Int32Array, index: number): void {
  native.notify(words, index, INT32_MAX);
}

/** A named object of int32 words in a typed segment. */
export abstract class SyncObject extends SegmentHandle {
  /** @internal The object's int32 words in shared memory. */
  protected readonly words: Int32Array;

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

  /** Creates `name` with `words` int32 words that `init` fills, as the handle `make` builds over it, with the lifetime `options` ask. */
  protected static createObject<T extends SyncObject>(
    name: string,
    kind: KindCode,
    words: number,
    options: CreateOptions | undefined,
    init: (words: Int32Array) => void,
    make: (typed: TypedSegment) => T,
  ): T {
    const args = createArgs(name, options);
    return settle(make(createWords(args.name, kind, words, args.mode, init)), args.lifetime);
  }

  /** Opens `name`; `words` is how many int32 words it must have (a function: from what its words say). */
  protected static openSegment(name: string, kind: KindCode, words: number | ((data: Int32Array) => number), options: OpenOptions | undefined): TypedSegment {
    const args = openArgs(name, options);
    return openWords(args.name, kind, words, args.timeout);
  }

  /**
   * openOrCreate of a kind: opens `name` if it exists (with `openWords`
   * words, and as `check` accepts), else creates it as createObject does.
   */
  protected static openOrCreateObject<T extends SyncObject>(
    name: string,
    kind: KindCode,
    words: number,
    existingWords: number | ((data: Int32Array) => number),
    options: OpenOrCreateOptions | undefined,
    init: (words: Int32Array) => void,
    make: (typed: TypedSegment) => T,
    check?: (handle: T) => void,
  ): T {
    const args = createArgs(name, options);
    const timeout = openTimeout(options);
    const handle = openOrCreate(
      () => make(openWords(args.name, kind, existingWords, timeout)),
      () => make(createWords(args.name, kind, words, args.mode, init)),
      check,
    );
    return settle(handle, args.lifetime);
  }
}

function createWords(name: string, kind: KindCode, words: number, mode: number, init: (words: Int32Array) => void): TypedSegment {
  return createTyped(name, kind, INT32, words, mode, (data) => init(data as Int32Array));
}

function openWords(name: string, kind: KindCode, words: number | ((data: Int32Array) => number), timeout: number): TypedSegment {
  const typed = openTyped(name, kind, timeout);
  const expected = typeof words === 'number' ? words : words(typed.data as Int32Array);
  if (typed.count !== expected) {
    typed.close();
    throw new ShmError(ErrorCodes.FORMAT, `${JSON.stringify(name)} has ${typed.count} words; this shmkit expects ${expected}`);
  }
  return typed;
}

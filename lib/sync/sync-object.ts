// What the named synchronization objects (Event, Condition, Barrier) share:
// a typed segment of int32 words, created and opened by name.
import { resolveDType } from '../core/dtypes.js';
import { ErrorCodes, ShmError, sys } from '../core/errors.js';
import type { KindCode } from '../core/format.js';
import { SegmentHandle } from '../core/handle.js';
import { native } from '../core/native.js';
import { type CreateOptions, createArgs, type OpenOptions, openArgs } from '../core/options.js';
import { createTyped, openTyped, type TypedSegment } from '../core/typed-segment.js';
import { type SharedWord, sharedWordKey } from './sleep-group.js';

const INT32 = resolveDType('int32');

/** Wakes every waiter on `words[index]`, in every process. */
export function wakeAll(words: Int32Array, index: number): void {
  sys(() => native.notify(words, index, 2 ** 31 - 1));
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

  protected static createSegment(
    name: string,
    kind: KindCode,
    words: number,
    options: CreateOptions | undefined,
    init: (words: Int32Array) => void,
  ): TypedSegment {
    const args = createArgs(name, options);
    return createTyped(args.name, kind, INT32, words, args.mode, (data) => init(data as Int32Array));
  }

  /** Opens `name`; `words` is how many int32 words it must have (a function: from what its words say). */
  protected static openSegment(name: string, kind: KindCode, words: number | ((data: Int32Array) => number), options: OpenOptions | undefined): TypedSegment {
    const args = openArgs(name, options);
    const typed = openTyped(args.name, kind, args.timeout);
    const expected = typeof words === 'number' ? words : words(typed.data as Int32Array);
    if (typed.count !== expected) {
      typed.close();
      throw new ShmError(ErrorCodes.FORMAT, `${JSON.stringify(args.name)} has ${typed.count} words; this shmkit expects ${expected}`);
    }
    return typed;
  }
}

// The map's allocator: blocks of 8-byte units in size classes, free lists
// per class, and a bump pointer into never-used room; the file grows when
// that runs out. Every change it makes is a few words written as one: the
// words and their new values go into a redo log in the control block, the
// log is committed by storing its length, then applied, then emptied. Whoever
// takes the allocator's lock over from a holder that died applies a
// committed log again (each write stores a value, so twice is as once), so
// a kill at any instant leaves every free list and block whole.
//
// An allocation writes the block's ref and version where its caller asked
// (a stripe's write record), in the same step: a block handed out is always
// recorded somewhere that recovery looks at, never lost.
//
// A block's version word says what it is (readers read entries only while it
// is even, and check it has not changed after): free (odd); handed out and
// being filled (odd, 2 past the free one); ready (even: the filler stores it
// once the block's bytes are written, with ready()); freed again (odd). So a
// reader that reaches a block through a stale ref while it is refilled never
// takes its half-written bytes for an entry.
import { ErrorCodes, ShmError } from '../core/errors.js';
import type { TypedSegment } from '../core/typed-segment.js';
import { Acquired, type LockWord } from '../sync/lock-word.js';
import { parseWaitOptions, type WaitOwner } from '../sync/waiting.js';
import { Block, Control, LOG_PAIRS, SIZE_CLASSES, sizeClass } from './layout.js';
import type { MapSpace } from './space.js';

const FOREVER = parseWaitOptions(undefined);

/** Where a heap's words are: its redo log, its free-list heads (one per class below `classCount`), and the units its lists hold. */
export interface HeapWords {
  readonly logCount: number;
  readonly logPairs: number;
  readonly logCapacity: number;
  readonly classes: number;
  readonly classCount: number;
  /** Units held in the lists (a stripe's: it gives frees to the shared heap past LOCAL_UNITS); omitted for the shared heap. */
  readonly freeUnits?: number;
}

/** The shared heap's words (the control block). */
export const SHARED_HEAP: HeapWords = {
  logCount: Control.logCount,
  logPairs: Control.logPairs,
  logCapacity: LOG_PAIRS,
  classes: Control.classes,
  classCount: SIZE_CLASSES,
};

/** Most units a stripe keeps in its own lists: a stripe that deletes much gives the rest to the shared heap, for every stripe's use. */
const LOCAL_UNITS = 4096;

/**
 * One heap: the shared one (its own lock, the bump pointer, growth) or a
 * stripe's (locked by the stripe's lock, which its caller holds: blocks the
 * stripe's writes free are reused by its later writes without the shared
 * lock, which every writer of every stripe otherwise takes twice a write).
 */
export class Heap {
  readonly #space: MapSpace;
  /** The shared heap's lock; undefined for a stripe's heap (the caller holds the stripe's lock). */
  readonly #lock: LockWord | undefined;
  readonly #owner: WaitOwner;
  readonly #typed: TypedSegment;
  readonly #words: HeapWords;
  /** A stripe's heap: the shared heap, for what its own lists do not have and what they do not keep. */
  readonly #shared: Heap | undefined;

  constructor(space: MapSpace, lock: LockWord | undefined, owner: WaitOwner, typed: TypedSegment, words = SHARED_HEAP, shared?: Heap) {
    this.#space = space;
    this.#lock = lock;
    this.#owner = owner;
    this.#typed = typed;
    this.#words = words;
    this.#shared = shared;
  }

  /**
   * A block of at least `units`, recorded as [ref, version] at words
   * `recordAt` and `recordAt + 1`. @throws {ShmError} ERR_SHM_MAP_FULL (nothing changed)
   */
  alloc(units: number, recordAt: number): number {
    const { klass, units: size } = sizeClass(units);
    if (klass >= SIZE_CLASSES) throw new ShmError(ErrorCodes.MAP_FULL, `a block of ${units * 8} bytes is larger than a map can hold`);
    const words = this.#words;
    const head = klass < words.classCount ? this.#space.control[words.classes + klass] : 0;
    if (this.#shared !== undefined) return head !== 0 ? this.#pop(head, klass, recordAt) : this.#shared.alloc(units, recordAt);
    this.#take();
    try {
      const sharedHead = this.#space.control[words.classes + klass];
      return sharedHead !== 0 ? this.#pop(sharedHead, klass, recordAt) : this.#bump(size, recordAt);
    } finally {
      this.#lock?.release();
    }
  }

  /** Marks block `ref`, filled, as ready: from its allocation's (odd) version to the even one after it. */
  ready(ref: number, version: number): void {
    Atomics.store(this.#space.i32, ref * 2, version + 1);
  }

  /**
   * Frees block `ref` if it is still the allocation of `version` (as handed
   * out, or made ready since), so freeing twice, as recovery may, frees once.
   * A stripe's heap keeps it if it is small and the stripe holds little; else
   * the shared heap takes it.
   */
  free(ref: number, version: number): void {
    const space = this.#space;
    if (this.#shared !== undefined) {
      const units = space.holds(ref, 2) ? space.i32[ref * 2 + Block.units / 4] : 0;
      const words = this.#words;
      const kept = space.control[words.freeUnits as number];
      if (units <= 0 || sizeClass(units).klass >= words.classCount || kept + units > LOCAL_UNITS) {
        this.#shared.free(ref, version);
        return;
      }
      this.#push(ref, version);
      return;
    }
    this.#take();
    try {
      this.#push(ref, version);
    } finally {
      this.#lock?.release();
    }
  }

  /** Takes and gives back the lock: a change its last holder died in the middle of is finished. */
  settle(): void {
    if (this.#shared !== undefined) {
      this.recover();
      return;
    }
    this.#take();
    this.#lock?.release();
  }

  /** Bytes in the free lists now (walked with the lock held, or by the stripe's holder). */
  freeBytes(): number {
    if (this.#shared !== undefined) return this.#walkFree();
    this.#take();
    try {
      return this.#walkFree();
    } finally {
      this.#lock?.release();
    }
  }

  /** Applies a change its last holder committed but may not have finished (with the lock taken over). */
  recover(): void {
    const control = this.#space.control;
    const words = this.#words;
    const count = Atomics.load(control, words.logCount);
    if (count <= 0 || count > words.logCapacity) {
      Atomics.store(control, words.logCount, 0);
      return;
    }
    const pairs: number[] = [];
    for (let i = 0; i < count * 2; i++) pairs.push(control[words.logPairs + i]);
    this.#apply(pairs);
    Atomics.store(control, words.logCount, 0);
  }

  #walkFree(): number {
    const space = this.#space;
    const words = this.#words;
    const limit = space.control[Control.heapEnd];
    let bytes = 0;
    for (let klass = 0; klass < words.classCount; klass++) {
      // At most as many blocks as the heap has units: a corrupt list that loops stops there.
      for (let ref = space.control[words.classes + klass], n = 0; ref !== 0 && n < limit && space.holds(ref, 2); n++) {
        bytes += space.i32[ref * 2 + Block.units / 4] * 8;
        ref = space.i32[ref * 2 + Block.nextFree / 4];
      }
    }
    return bytes;
  }

  #take(): void {
    const lock = this.#lock as LockWord;
    if (lock.tryFast()) return;
    // Never taken twice by one handle: a word that says so was written by someone else.
    if (lock.isHeldByMe()) throw corrupt(this.#typed.name, "its allocator's lock word holds this very handle's token");
    if (lock.acquireSync(this.#owner, FOREVER) === Acquired.OwnerDied) this.recover();
  }

  /** Puts `ref` on its class's list, if it is still the allocation of `version` (see free). */
  #push(ref: number, version: number): void {
    const space = this.#space;
    if (!space.holds(ref, 2)) return;
    const current = Atomics.load(space.i32, ref * 2);
    // The allocation's version: odd while filled, that + 1 once ready; a recorded ready (even) version is freed only as itself.
    if ((version & 1) === 1 ? current !== version && current !== ((version + 1) | 0) : current !== version) return;
    const units = space.i32[ref * 2 + Block.units / 4];
    const { klass } = sizeClass(units);
    if (units <= 0 || klass >= this.#words.classCount) throw corrupt(this.#typed.name, `block ${ref} says it has ${units} units`);
    const word = this.#words.classes + klass;
    const pairs = [ref * 2, (current | 1) + 2, ref * 2 + Block.nextFree / 4, space.control[word], word, ref];
    this.#commit(this.#counted(pairs, units));
  }

  #pop(head: number, klass: number, recordAt: number): number {
    const space = this.#space;
    if (!space.holds(head, 2)) throw corrupt(this.#typed.name, `free list ${klass} points outside its heap (${head})`);
    const version = Atomics.load(space.i32, head * 2);
    const next = space.i32[head * 2 + Block.nextFree / 4];
    const pairs = [this.#words.classes + klass, next, head * 2, version + 2, recordAt, head, recordAt + 1, version + 2];
    this.#commit(this.#counted(pairs, -space.i32[head * 2 + Block.units / 4]));
    return head;
  }

  /** `pairs`, and for a stripe's heap the change of the units its lists hold. */
  #counted(pairs: number[], units: number): number[] {
    const at = this.#words.freeUnits;
    if (at !== undefined) pairs.push(at, Math.max(0, this.#space.control[at] + units));
    return pairs;
  }

  #bump(size: number, recordAt: number): number {
    const space = this.#space;
    const ref = space.control[Control.bump];
    const end = ref + size;
    if (end > space.control[Control.heapEnd]) this.#grow(end);
    else if (!space.reach(end)) throw corrupt(this.#typed.name, `its heap ends at ${space.control[Control.heapEnd] * 8} bytes, past the file`);
    // Never-used room may hold anything (a rebuilt map's old bytes): the version only needs to change and be odd.
    const version = (space.i32[ref * 2] | 1) + 2;
    this.#commit([Control.bump, end, ref * 2, version, ref * 2 + Block.units / 4, size, recordAt, ref, recordAt + 1, version]);
    return ref;
  }

  /** Extends the file so that refs below `end` exist: doubling, within the map's most. */
  #grow(end: number): void {
    const control = this.#space.control;
    const max = control[Control.maxEnd];
    if (end > max) {
      throw new ShmError(
        ErrorCodes.MAP_FULL,
        `${this.#typed.name} is full: it would need ${end * 8} bytes, past its maxSize of ${max * 8} (nothing was changed)`,
      );
    }
    const grown = Math.min(max, Math.max(end, control[Control.heapEnd] * 2));
    this.#space.grow(grown);
    Atomics.store(control, Control.heapEnd, grown);
  }

  /** Writes `pairs` as one change: logged, committed, applied, emptied. */
  #commit(pairs: number[]): void {
    const control = this.#space.control;
    const words = this.#words;
    for (let i = 0; i < pairs.length; i++) control[words.logPairs + i] = pairs[i];
    Atomics.store(control, words.logCount, pairs.length / 2);
    this.#apply(pairs);
    Atomics.store(control, words.logCount, 0);
  }

  #apply(pairs: number[]): void {
    const space = this.#space;
    let highest = 0;
    let lowest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < pairs.length; i += 2) {
      highest = Math.max(highest, pairs[i]);
      lowest = Math.min(lowest, pairs[i]);
    }
    if (lowest < Control.heapEnd || !space.reach(Math.ceil((highest + 1) / 2))) {
      throw corrupt(this.#typed.name, `its allocator log writes words ${lowest}..${highest}, outside the map`);
    }
    for (let i = 0; i < pairs.length; i += 2) Atomics.store(space.i32, pairs[i], pairs[i + 1]);
  }
}

export function corrupt(name: string, what: string): ShmError {
  return new ShmError(ErrorCodes.FORMAT, `SharedMap ${JSON.stringify(name)} is corrupt: ${what}`);
}

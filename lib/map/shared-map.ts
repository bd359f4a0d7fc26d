// SharedMap: a string-keyed map in one shared-memory segment, for
// unrelated processes (Python's Manager().dict(), with no server).
//
// Reads take no lock: an entry is an immutable block that a write replaces
// (a new block, published with one store of its ref into the index slot), and
// a reader checks, after copying, that neither the block (its version word
// changes whenever it is freed or handed out again) nor the index (its
// generation) changed meanwhile; if one did, it reads again. Writers lock the
// stripe of their key's hash (keys of other stripes are written at the same
// time) and keep a record of the write in progress in the stripe, so that
// whoever takes the lock over from a writer that died finishes or undoes it
// (docs/design.md, "SharedMap"). The layout is in layout.ts.
import type { InspectOptionsStylized } from 'node:util';
import { decode, type Encoded, emptyEncoded, encodeValue, Tag } from '../channel/codec.js';
import { trace } from '../core/debug.js';
import { resolveDType, type SharedTypedArray } from '../core/dtypes.js';
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { HEADER_SIZE, Kind, type KindCode, kindName, Offset } from '../core/format.js';
import { INSPECT, type Inspect, inspectHandle } from '../core/inspect.js';
import { MEMBER, type Member, openOrCreate, settle, shapeMismatch } from '../core/lifetime.js';
import { normalizeName } from '../core/names.js';
import { type CreateOptions, createArgs, type OpenOptions, openArgs, openTimeout } from '../core/options.js';
import { MAX_MAPPING_BYTES } from '../core/segment.js';
import { type HandleDescription, TRANSFER } from '../core/transfer.js';
import { closedOnError, createTyped, openTyped, type TypedSegment, unlinkTyped } from '../core/typed-segment.js';
import { checkFunction, checkInteger, checkObject, checkTimeout, INT32_MAX } from '../core/validate.js';
import { Acquired, LockWord } from '../sync/lock-word.js';
import { sharedWordKey } from '../sync/sleep-group.js';
import { wakeAll } from '../sync/sync-object.js';
import { parseWaitOptions, RETRY, Spinner, TIMED_OUT, type WaitOptions, type WaitPlan, waitAsync } from '../sync/waiting.js';
import { corrupt, Heap, type HeapWords } from './heap.js';
import { hashKey, keyEquals } from './keys.js';
import {
  align8,
  Block,
  Control,
  DEFAULT_STRIPES,
  Entry,
  entryUnits,
  heapStartRef,
  INITIAL_SLOTS,
  Index,
  indexUnits,
  SlotRef,
  STRIPE_CLASSES,
  STRIPE_LOG_PAIRS,
  Stripe,
} from './layout.js';
import { MapSpace } from './space.js';

/** Options of `SharedMap.create`. */
export interface SharedMapOptions extends CreateOptions {
  /** Bytes the map starts with (default 1 MiB, at least 64 KiB); it grows as entries need room. */
  size?: number;
  /** The most bytes it may grow to (default, and at most, 4 GiB). */
  maxSize?: number;
  /**
   * Cache mode: past this many entries a write evicts roughly the least
   * recently used ones (a clock: readers mark what they read, no lock taken).
   */
  maxEntries?: number;
  /** Cache mode: past this many bytes of entries a write evicts, as for maxEntries. */
  maxBytes?: number;
}

/** Options of `set`. */
export interface SetOptions {
  /**
   * Sets only if the key's entry has this version now (`getEntry`), 0 only
   * if the key is absent: a compare-and-set. `set` then returns whether it did.
   */
  ifVersion?: number;
  /** Milliseconds the entry lives: after that it reads as absent (and is removed by later writes). */
  ttl?: number;
}

/** What a map's memory holds (`stats()`). */
export interface MapStats {
  entries: number;
  /** The file's size: what the map has grown to. */
  fileBytes: number;
  /** Room handed out so far: the entries, the index, and freed room waiting for reuse. */
  heapBytes: number;
  /** Freed room waiting for reuse (by values of its size class). */
  freeBytes: number;
  /** The blocks of the entries there now, and the index. */
  liveBytes: number;
}

/** A value with its version: the version changes with every write of the key, and never comes back. */
export interface MapEntry<V> {
  value: V;
  version: number;
}

const BYTES = resolveDType('uint8');
const DEFAULT_SIZE = 1 << 20;
const MIN_SIZE = 1 << 16;
/** Entries whose decoded string values a handle keeps (a power of two). */
const DECODED_SLOTS = 1024;
/** Reads that found the entry changing under them this many times in a row take the stripe's lock for one read. */
const OPTIMISTIC_READS = 64;

/** Buffer's unchecked slices (what toString calls after checking its arguments). */
interface Slices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** Where a key was found, or where it would go. */
interface Found {
  /** Its slot in the current index, or -1. */
  slot: number;
  /** Its entry's ref, or 0. */
  ref: number;
  /** Its entry block's version, when found. */
  version: number;
  /** Found, but past its ttl: it reads as absent (a write replaces or removes it). */
  expired?: boolean;
}

/** True if `found` is an entry that reads as present. */
function present(found: Found): boolean {
  return found.ref !== 0 && found.expired !== true;
}

const NOT_FOUND: Found = { slot: -1, ref: 0, version: 0 };
/** What #find says. AGAIN: what it read changed under it, read again. */
const FOUND = 1;
const ABSENT = 0;
const AGAIN = -1;
/** What #read returns for an absent key (undefined is a value a map can hold). */
const MISSING = Symbol('missing');
/** @internal The same, for SharedList. */
export const MISSING_VALUE: unique symbol = Symbol('missing value');
/** @internal What a SharedList body returns to remove the entry. */
export const REMOVE: unique symbol = Symbol('remove');

/**
 * A map from strings to values, shared by every process that opens it by
 * name. `get` reads straight from shared memory without a lock; writes to
 * keys of different stripes go on at the same time; a writer killed at any
 * instant leaves every key with its old or its new value. Values are what a
 * Queue message can be (strings, numbers, booleans, null, Buffers, typed
 * arrays, structured-cloneable objects), and come back as the same type.
 */
export class SharedMap<V = unknown> implements Disposable, Iterable<[string, V]> {
  readonly #typed: TypedSegment;
  /** The kind this handle opened (a SharedList is kind 12): its unlink removes that kind. */
  readonly #kind: KindCode;
  readonly #space: MapSpace;
  readonly #heap: Heap;
  /** Each stripe's own heap, for the blocks its writes free and take again without the shared heap's lock. */
  readonly #stripeHeaps: Heap[];
  readonly #stripeShift: number;
  readonly #stripeLocks: LockWord[];
  readonly #rebuildLock: LockWord;
  readonly #encoded: Encoded = emptyEncoded();
  readonly #spinner = new Spinner();
  /** The control block as float64s: each stripe's entry-version counter. */
  readonly #counters: Float64Array;
  /** True while this handle's update() callback runs (it holds a stripe's lock). */
  #inUpdate = false;
  /** Cache mode (a maxEntries or maxBytes at create): reads mark entries, writes evict. */
  readonly #cache: boolean;
  /** What the last #find found: the slot, entry ref and entry version (no object per read). */
  #slot = -1;
  #ref = 0;
  #version = 0;
  /** The version of the entry the last #read returned. */
  #readVersion = 0;
  /** String values decoded lately, by entry (see #keepDecoded): a direct-mapped cache by ref. */
  readonly #decodedRefs = new Int32Array(DECODED_SLOTS);
  readonly #decodedVersions = new Int32Array(DECODED_SLOTS);
  readonly #decoded: (string | undefined)[] = new Array(DECODED_SLOTS).fill(undefined);
  /** The current index as #find last read it: the generation, its first slot word and its slot mask. */
  #geometryGen = -1;
  #geometryIndex = -1;
  #indexBase = 0;
  #indexMask = 0;

  private constructor(typed: TypedSegment) {
    this.#typed = typed;
    this.#kind = new DataView(typed.segment.buffer, 0, HEADER_SIZE).getUint8(Offset.kind) as KindCode;
    const stripes = checkLayout(typed);
    this.#space = new MapSpace(typed, Control.stripes0 + stripes * Stripe.words, heapStartRef(stripes));
    const control = this.#space.control;
    this.#counters = new Float64Array(control.buffer, 0, control.length / 2);
    this.#cache = control[Control.maxEntries] > 0 || control[Control.maxUnits] > 0;
    this.#stripeShift = 32 - Math.log2(stripes);
    this.#stripeLocks = Array.from({ length: stripes }, (_, s) => new LockWord(control, stripeWord(s, Stripe.lock), typed));
    this.#rebuildLock = new LockWord(control, Control.rebuildLock, typed);
    this.#heap = new Heap(this.#space, new LockWord(control, Control.allocLock, typed), this, typed);
    this.#stripeHeaps = Array.from({ length: stripes }, (_, s) => new Heap(this.#space, undefined, this, typed, stripeHeapWords(s), this.#heap));
  }

  /** Creates a map named `name` (`EEXIST` if the name exists), empty. */
  static create<V = unknown>(name: string, options?: SharedMapOptions): SharedMap<V> {
    return SharedMap.createKind<V>(Kind.sharedMap, DEFAULT_STRIPES, name, options);
  }

  /** Opens an existing map by name. */
  static open<V = unknown>(name: string, options?: OpenOptions): SharedMap<V> {
    return SharedMap.openKind<V>(Kind.sharedMap, name, options);
  }

  /**
   * Opens the map `name` if it exists, else creates it (empty) with
   * `options`. An existing map must have the `maxSize`, `maxEntries` and
   * `maxBytes` given (options left out are not compared; `size` is where a
   * map starts, not what it is now). Of several processes racing, one creates.
   * @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object, or a map with other limits
   */
  static openOrCreate<V = unknown>(name: string, options?: SharedMapOptions & OpenOptions): SharedMap<V> {
    return SharedMap.openOrCreateKind<V>(Kind.sharedMap, DEFAULT_STRIPES, name, options);
  }

  /** @internal A map of `kind` (a SharedList is a map of one stripe) with `stripes` stripes. */
  static createKind<V>(kind: KindCode, stripes: number, name: string, options: SharedMapOptions | undefined): SharedMap<V> {
    const args = createArgs(name, options);
    return settle(SharedMap.#create<V>(kind, stripes, args.name, args.mode, options), args.lifetime);
  }

  /** @internal */
  static openKind<V>(kind: KindCode, name: string, options: OpenOptions | undefined): SharedMap<V> {
    const args = openArgs(name, options);
    return SharedMap.#open<V>(kind, args.name, args.timeout);
  }

  /** @internal openOrCreate of a map of `kind`. */
  static openOrCreateKind<V>(kind: KindCode, stripes: number, name: string, options: (SharedMapOptions & OpenOptions) | undefined): SharedMap<V> {
    const args = createArgs(name, options);
    const timeout = openTimeout(options);
    const { maxSize } = sizeArgs(options);
    const { maxEntries, maxUnits } = cacheArgs(options);
    const map = openOrCreate(
      () => SharedMap.#open<V>(kind, args.name, timeout),
      () => SharedMap.#create<V>(kind, stripes, args.name, args.mode, options),
      (existing) => {
        const control = existing.#space.control;
        const what = kindName(kind);
        const has = { maxSize: control[Control.maxEnd] * 8, maxEntries: control[Control.maxEntries], maxBytes: control[Control.maxUnits] * 8 };
        if (options?.maxSize !== undefined && has.maxSize !== maxSize) throw shapeMismatch(what, args.name, `maxSize ${has.maxSize}`, `maxSize ${maxSize}`);
        if (options?.maxEntries !== undefined && has.maxEntries !== maxEntries) {
          throw shapeMismatch(what, args.name, `maxEntries ${has.maxEntries || 'none'}`, `maxEntries ${maxEntries}`);
        }
        if (options?.maxBytes !== undefined && has.maxBytes !== maxUnits * 8) {
          throw shapeMismatch(what, args.name, `maxBytes ${has.maxBytes || 'none'}`, `maxBytes ${options.maxBytes}`);
        }
      },
    );
    return settle(map, args.lifetime);
  }

  static #create<V>(kind: KindCode, stripes: number, name: string, mode: number, options: SharedMapOptions | undefined): SharedMap<V> {
    const { size, maxSize } = sizeArgs(options);
    const cache = cacheArgs(options);
    const fill = (data: SharedTypedArray) => initialize(data as Uint8Array, size, maxSize, cache, stripes);
    const typed = createTyped(name, kind, BYTES, size - 128, mode, fill, true);
    return closedOnError(typed, () => new SharedMap<V>(typed));
  }

  static #open<V>(kind: KindCode, name: string, timeout: number): SharedMap<V> {
    const typed = openTyped(name, kind, timeout, true);
    return closedOnError(typed, () => new SharedMap<V>(typed));
  }

  /**
   * Removes the name `name` if it is a SharedMap; processes that have it open keep using it.
   * @throws {ShmError} ENOENT; ERR_SHM_FORMAT if the name is another kind of object (nothing is removed)
   */
  static unlink(name: string): void {
    unlinkTyped(normalizeName(name), Kind.sharedMap);
  }

  get name(): string {
    return this.#typed.name;
  }

  /** Removes the name; processes that have it open keep using it. @throws {ShmError} ENOENT; ERR_SHM_FORMAT if the name is another kind of object now */
  unlink(): void {
    unlinkTyped(this.#typed.name, this.#kind, this.#typed.segment.identity);
  }

  /** @internal How this handle crosses to another process (lib/core/transfer.ts). */
  [TRANSFER](): HandleDescription {
    return { kind: 'SharedMap', name: this.name };
  }

  /** @internal What a Scope and `unlinkOnExit` need of this handle. */
  [MEMBER](): Member {
    return this.#typed.member(() => this.close());
  }

  get closed(): boolean {
    return this.#typed.closed;
  }

  /** What util.inspect prints (lib/core/inspect.ts). */
  [INSPECT](depth: number, options: InspectOptionsStylized, inspect: Inspect): string {
    return inspectHandle(this, () => ({ size: this.size }), depth, options, inspect);
  }

  /** The number of entries (exact when no write is under way; a write cut short by its writer's death counts as done if it was published). */
  get size(): number {
    this.#checkOpen();
    let size = 0;
    for (let s = 0; s < this.#stripeLocks.length; s++) size += this.#countOf(s);
    return size;
  }

  /** The value of `key`, or undefined. Takes no lock. */
  get(key: string): V | undefined {
    this.#checkOpen();
    const value = this.#read(checkKey(key));
    return value === MISSING ? undefined : (value as V);
  }

  /** The value of `key` with its version, or undefined. */
  getEntry(key: string): MapEntry<V> | undefined {
    this.#checkOpen();
    const value = this.#read(checkKey(key));
    return value === MISSING ? undefined : { value: value as V, version: this.#readVersion };
  }

  has(key: string): boolean {
    this.#checkOpen();
    return this.#read(checkKey(key)) !== MISSING;
  }

  /** Sets `key` to `value`. With `ifVersion`, only if the entry has that version (0: only if absent): returns whether it did. */
  set(key: string, value: V, options?: Omit<SetOptions, 'ifVersion'>): this;
  set(key: string, value: V, options: SetOptions & { ifVersion: number }): boolean;
  set(key: string, value: V, options?: SetOptions): this | boolean {
    this.#checkOpen();
    checkKey(key);
    const { ifVersion, expires } = setArgs(options);
    const encoded = encodeValue(value, this.#encoded);
    const done = this.#write(key, (found) =>
      ifVersion !== undefined && this.#versionAt(found) !== ifVersion ? false : this.#put(key, found, encoded, expires),
    );
    return ifVersion === undefined ? this : done;
  }

  /** Removes `key`; true if it was there. */
  delete(key: string): boolean {
    this.#checkOpen();
    return this.#write(checkKey(key), (found) => {
      if (found.ref === 0) return false;
      this.#remove(key, found); // an expired entry goes too, but was not there to delete
      return present(found);
    });
  }

  /** Python's `pop`: removes `key` and returns its value, or `otherwise` if it was absent. */
  pop(key: string, otherwise?: V): V | undefined {
    this.#checkOpen();
    let value: V | undefined = otherwise;
    this.#write(checkKey(key), (found) => {
      if (found.ref === 0) return false;
      if (present(found)) value = this.#valueAt(found.ref) as V;
      return this.#remove(key, found);
    });
    return value;
  }

  /** Sets `key` to `value` unless it has a value; true if it set it. */
  setIfAbsent(key: string, value: V): boolean {
    this.#checkOpen();
    checkKey(key);
    const encoded = encodeValue(value, this.#encoded);
    return this.#write(key, (found) => !present(found) && this.#put(key, found, encoded));
  }

  /** The value of `key`; if absent, `make()`'s result, stored first (make runs with the key's writers excluded). */
  getOrSet(key: string, make: () => V): V {
    this.#checkOpen();
    checkFunction(make, 'make');
    return this.update(key, (old) => (old === undefined ? make() : old)) as V;
  }

  /** Python's `setdefault`: the value of `key`, setting it to `value` first if absent. */
  setdefault(key: string, value: V): V {
    return this.getOrSet(key, () => value);
  }

  /**
   * Sets `key` to `fn(old)` (old: its value, or undefined) while the key's
   * writers (those of its stripe) are excluded; `fn` returning undefined
   * deletes it. Returns the new value. `fn` must not write to this map
   * (ERR_SHM_WOULD_DEADLOCK); if it throws, nothing changes.
   */
  update(key: string, fn: (old: V | undefined) => V | undefined): V | undefined {
    this.#checkOpen();
    checkKey(key);
    checkFunction(fn, 'fn');
    let result: V | undefined;
    this.#write(key, (found) => {
      const old = present(found) ? (this.#valueAt(found.ref) as V) : undefined;
      this.#inUpdate = true;
      try {
        result = fn(old);
      } finally {
        this.#inUpdate = false;
      }
      if (result === undefined) return found.ref !== 0 && this.#remove(key, found);
      return this.#put(key, found, encodeValue(result, this.#encoded));
    });
    return result;
  }

  /** Adds `by` (default 1) to the number at `key` (absent counts as 0) and returns the sum. */
  increment(key: string, by = 1): number {
    if (typeof by !== 'number' || Number.isNaN(by)) throw invalidArg(`by must be a number, got ${describeValue(by)}`);
    return this.update(key, (old) => {
      if (old !== undefined && typeof old !== 'number')
        throw invalidArg(`increment of ${JSON.stringify(key)}, whose value is not a number (${describeValue(old)})`);
      return (((old as number | undefined) ?? 0) + by) as V;
    }) as number;
  }

  /** What the map's memory holds now: entries, bytes of the file, handed out, free, and live. */
  stats(): MapStats {
    this.#checkOpen();
    const control = this.#space.control;
    const heapStart = heapStartRef(control[Control.stripes]);
    let liveBytes = this.#space.i32[Atomics.load(control, Control.index) * 2 + Block.units / 4] * 8;
    for (const ref of this.#liveRefs()) liveBytes += this.#space.i32[ref * 2 + Block.units / 4] * 8;
    return {
      entries: this.size,
      fileBytes: control[Control.heapEnd] * 8,
      heapBytes: (control[Control.bump] - heapStart) * 8,
      freeBytes: this.#heap.freeBytes() + this.#stripeHeaps.reduce((sum, heap) => sum + heap.freeBytes(), 0),
      liveBytes,
    };
  }

  /** Removes every entry (weakly: a write that runs meanwhile may stay). */
  clear(): void {
    this.#checkOpen();
    for (const key of [...this.keys()]) this.delete(key);
  }

  /** Resolves true once `key` changes (set, deleted, or set again to anything), false at the timeout. */
  async waitChange(key: string, options?: WaitOptions): Promise<boolean> {
    this.#checkOpen();
    checkKey(key);
    const wait = parseWaitOptions(options);
    const before = this.#versionOf(key);
    const stripe = this.#stripeOf(hashKey(key));
    const changes = stripeWord(stripe, Stripe.changes);
    const control = this.#space.control;
    const plan: WaitPlan<true> = {
      attempt: () => (this.#versionOf(key) !== before ? true : RETRY),
      watch: () => ({ words: control, index: changes, expected: Atomics.load(control, changes) }),
      announce: (watched) => {
        Atomics.store(control, stripeWord(stripe, Stripe.changeSleepers), 1);
        return Atomics.load(control, changes) === watched.expected ? watched.expected : RETRY;
      },
      shared: { key: sharedWordKey(this.#typed.segment, control, changes), segment: this.#typed.segment, admit: () => Infinity },
    };
    return (await waitAsync(this, plan, wait, this.#spinner)) !== TIMED_OUT;
  }

  *keys(): IterableIterator<string> {
    for (const [key] of this.#entries(false)) yield key;
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.#entries(true)) yield value as V;
  }

  entries(): IterableIterator<[string, V]> {
    return this.#entries(true) as IterableIterator<[string, V]>;
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: string, map: this) => void, thisArg?: unknown): void {
    checkFunction(callback, 'callback');
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  /** Closes this handle (unmaps; other handles and processes keep the map). Idempotent; does not unlink. */
  close(): void {
    if (this.#typed.closed) return;
    this.#space.close();
    this.#typed.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal */
  closedError(): ShmError {
    return new ShmError(ErrorCodes.CLOSED, `SharedMap ${JSON.stringify(this.name)} is closed`);
  }

  // ---- SharedList's access (a map of one stripe whose keys are the indexes) ----

  /** @internal Entries of stripe 0: a list's length. */
  _count(): number {
    this.#checkOpen();
    return this.#countOf(0);
  }

  /**
   * The entries of `stripe`, read without its lock: as recovery would find
   * them, so that a writer that died between publishing and counting (its
   * record says published, or its new entry is in its slot) is counted as
   * done, as the entries are. A SharedList's length never disagrees with its
   * items for that reason.
   */
  #countOf(stripe: number): number {
    const control = this.#space.control;
    const phase = Atomics.load(control, stripeWord(stripe, Stripe.phase));
    const count = Atomics.load(control, stripeWord(stripe, Stripe.count));
    if (phase === 0) return count;
    const after = Atomics.load(control, stripeWord(stripe, Stripe.countAfter));
    if (phase === 2) return after;
    const newRef = Atomics.load(control, stripeWord(stripe, Stripe.newRef));
    const slot = control[stripeWord(stripe, Stripe.slot)];
    const inSlot = slot >= 0 && slot < this.#capacityOf(control[Control.index]) ? Atomics.load(this.#space.i32, this.#slotWord(slot) + 1) : -1;
    return newRef !== 0 && inSlot === newRef ? after : count;
  }

  /** @internal The value of `key`, or MISSING_VALUE. Lock-free. */
  _read(key: string): unknown {
    this.#checkOpen();
    const value = this.#read(key);
    return value === MISSING ? MISSING_VALUE : value;
  }

  /**
   * @internal Holding stripe 0's lock: `choose(count)` names the key to
   * write (or undefined: nothing), `body(old, present)` returns the value
   * to store, or REMOVE. Returns what `body` returned, or undefined.
   */
  _writeAt(choose: (count: number) => string | undefined, body: (old: unknown, present: boolean) => unknown): unknown {
    this.#checkOpen();
    this.#checkNotInUpdate();
    let result: unknown;
    for (;;) {
      try {
        this.#withStripe(0, () => {
          const key = choose(Atomics.load(this.#space.control, stripeWord(0, Stripe.count)));
          if (key === undefined) return;
          const found = this.#find(key, hashKey(key));
          if (found === AGAIN) throw corrupt(this.name, `the entry of ${JSON.stringify(key)} is marked free while the index points at it`);
          const at: Found = found === FOUND ? { slot: this.#slot, ref: this.#ref, version: this.#version } : NOT_FOUND;
          this.#inUpdate = true;
          try {
            result = body(at.ref === 0 ? undefined : this.#valueAt(at.ref), at.ref !== 0);
          } finally {
            this.#inUpdate = false;
          }
          if (result === REMOVE) {
            if (at.ref !== 0) this.#remove(key, at);
          } else {
            this.#put(key, at, encodeValue(result, this.#encoded));
          }
        });
        return result;
      } catch (err) {
        if (err !== NO_ROOM) throw err;
        this.#rebuild();
      }
    }
  }

  // ---- reads ----

  /** The value of `key` (its version in #readVersion), read without a lock, or MISSING. */
  #read(key: string): unknown {
    const hash = hashKey(key);
    for (let tries = 0; ; tries++) {
      if (tries === OPTIMISTIC_READS) return this.#readLocked(key, hash);
      const control = this.#space.control;
      const gen = Atomics.load(control, Control.indexGen);
      const found = this.#find(key, hash);
      if (found === AGAIN) continue;
      if (found === ABSENT) {
        if (unchanged(control, Control.indexGen, gen)) return MISSING;
        continue;
      }
      const ref = this.#ref;
      const slot = ref & (DECODED_SLOTS - 1);
      const cached = this.#decodedRefs[slot] === ref && this.#decodedVersions[slot] === this.#version;
      const value = cached ? this.#decoded[slot] : this.#valueAt(ref);
      const version = this.#space.f64[(ref * 8 + Entry.versionF64) / 8];
      const expires = this.#space.f64[(ref * 8 + Entry.expiresF64) / 8];
      if (unchanged(this.#space.i32, ref * 2, this.#version) && unchanged(control, Control.indexGen, gen)) {
        if (expires !== 0 && Date.now() >= expires) return MISSING;
        if (this.#cache) this.#markRead(ref);
        if (!cached && typeof value === 'string') this.#keepDecoded(slot, ref, value);
        this.#readVersion = version;
        return value;
      }
    }
  }

  /**
   * Keeps a string value decoded from entry `ref` at its version (validated):
   * while the entry has that version its bytes cannot change (a block is
   * filled while its version is odd, and freed by changing it), so reading it
   * again needs no decode. Strings only: they are immutable in JS, where a
   * returned object must be a copy of its own.
   */
  #keepDecoded(slot: number, ref: number, value: string): void {
    this.#decodedRefs[slot] = ref;
    this.#decodedVersions[slot] = this.#version;
    this.#decoded[slot] = value;
  }

  /** A read that kept finding its entry changing: with the stripe's lock, so that it surely ends. */
  #readLocked(key: string, hash: number): unknown {
    trace('read', 'with the stripe lock, SharedMap', this.name, `${OPTIMISTIC_READS} reads of ${JSON.stringify(key)} found it changing`);
    return this.#withStripe(hash, () => {
      const found = this.#find(key, hash);
      if (found === AGAIN) throw corrupt(this.name, `the entry of ${JSON.stringify(key)} is marked free while the index points at it`);
      if (found === ABSENT || this.#expired(this.#ref)) return MISSING;
      this.#readVersion = this.#space.f64[(this.#ref * 8 + Entry.versionF64) / 8];
      return this.#valueAt(this.#ref);
    });
  }

  /** The version of `key`'s entry, 0 if absent. */
  #versionOf(key: string): number {
    return this.#read(key) === MISSING ? 0 : this.#readVersion;
  }

  /**
   * Looks `key` up in the current index: FOUND (its slot, entry and that
   * entry's version in #slot, #ref, #version), ABSENT, or AGAIN if what it
   * read moved under it (the caller checks the index generation around it).
   */
  #find(key: string, hash: number): number {
    const space = this.#space;
    // The index as last read, while neither it nor its generation moved (a rebuilder killed between storing the two moves only one).
    const current = Atomics.load(space.control, Control.index) !== this.#geometryIndex || Atomics.load(space.control, Control.indexGen) !== this.#geometryGen;
    if (current && !this.#readGeometry()) return AGAIN;
    const mask = this.#indexMask;
    const base = this.#indexBase;
    for (let probe = 0, slot = hash & mask; probe <= mask; probe++, slot = (slot + 1) & mask) {
      const i32 = space.i32;
      const ref = Atomics.load(i32, base + slot * 2 + 1);
      if (ref === SlotRef.empty) return ABSENT;
      if (ref <= SlotRef.tombstone || i32[base + slot * 2] !== (hash | 0)) continue;
      const match = this.#keyAt(key, ref);
      if (match === AGAIN) return AGAIN;
      if (match !== 0) {
        this.#slot = slot;
        this.#ref = ref;
        this.#version = match;
        return FOUND;
      }
    }
    return ABSENT;
  }

  /**
   * Reads where the current index's slots are (kept for as long as its
   * generation stays); false if what it read cannot be right (the caller
   * reads again, checking the generation).
   */
  #readGeometry(): boolean {
    const space = this.#space;
    const gen = Atomics.load(space.control, Control.indexGen);
    const index = Atomics.load(space.control, Control.index);
    const capacity = this.#capacityOf(index);
    if (capacity === 0) return false;
    this.#indexBase = index * 2 + Index.slots / 4;
    this.#indexMask = capacity - 1;
    this.#geometryIndex = index;
    this.#geometryGen = gen;
    return true;
  }

  /** The slots of index block `index`, 0 if what it says of itself cannot be right (a foreign write, or a read racing a rebuild). */
  #capacityOf(index: number): number {
    const space = this.#space;
    if (!space.holds(index, Index.slots / 8)) return 0;
    const capacity = space.i32[index * 2 + Index.capacity / 4];
    return isPowerOfTwo(capacity) && space.reach(index + indexUnits(capacity)) ? capacity : 0;
  }

  /** The version of entry `ref` if it holds `key`, 0 if another key, AGAIN if it changed while read. */
  #keyAt(key: string, ref: number): number {
    const space = this.#space;
    if (!space.holds(ref, Entry.key / 8)) return AGAIN;
    const version = Atomics.load(space.i32, ref * 2);
    if (version & 1) return AGAIN;
    const keyBytes = space.i32[ref * 2 + Entry.keyBytes / 4];
    const units = space.i32[ref * 2 + Block.units / 4];
    if (keyBytes < 0 || units <= 0 || Entry.key + keyBytes > units * 8 || !space.reach(ref + units)) return AGAIN;
    if (keyEquals(key, space.bytes, ref * 8 + Entry.key, keyBytes)) return version;
    return unchanged(space.i32, ref * 2, version) ? 0 : AGAIN;
  }

  /** Decodes the value of entry `ref` (the caller validates the entry afterwards, or holds its stripe). */
  #valueAt(ref: number): unknown {
    const space = this.#space;
    const at = ref * 8;
    const tag = space.bytes[at + Entry.tag];
    const keyBytes = space.i32[ref * 2 + Entry.keyBytes / 4];
    const length = space.i32[ref * 2 + Entry.valueBytes / 4];
    const start = at + Entry.key + align8(keyBytes);
    const end = start + length;
    if (length < 0 || end > at + space.i32[ref * 2 + Block.units / 4] * 8 || end > space.mapped) return undefined; // torn: the caller reads again
    switch (tag) {
      case Tag.asciiString:
        return (space.bytes as unknown as Slices).latin1Slice(start, end);
      case Tag.string:
        return (space.bytes as unknown as Slices).utf8Slice(start, end);
      case Tag.number:
        return space.f64[start / 8];
      default: {
        const copy = Buffer.allocUnsafe(length);
        space.bytes.copy(copy, 0, start, end);
        try {
          return decode(tag, copy);
        } catch {
          return undefined; // torn or foreign bytes: the caller's check decides
        }
      }
    }
  }

  /** Refs of the entries in the current index (as it is while walked). */
  *#liveRefs(): IterableIterator<number> {
    const space = this.#space;
    const index = Atomics.load(space.control, Control.index);
    const capacity = this.#capacityOf(index);
    for (let slot = 0; slot < capacity; slot++) {
      const ref = Atomics.load(space.i32, index * 2 + Index.slots / 4 + slot * 2 + 1);
      if (space.holds(ref, 1)) yield ref;
    }
  }

  *#entries(withValues: boolean): IterableIterator<[string, unknown]> {
    this.#checkOpen();
    let yielded: Set<string> | undefined;
    let gen = Atomics.load(this.#space.control, Control.indexGen);
    for (let slot = 0; ; slot++) {
      const space = this.#space;
      const now = Atomics.load(space.control, Control.indexGen);
      if (now !== gen) {
        // The index was rebuilt: go through the new one, skipping what was already given.
        yielded ??= new Set();
        gen = now;
        slot = 0;
      }
      const index = Atomics.load(space.control, Control.index);
      if (slot >= this.#capacityOf(index)) return;
      const entry = this.#entryInSlot(index, slot, withValues);
      if (entry === undefined || yielded?.has(entry[0])) continue;
      yielded?.add(entry[0]);
      yield entry;
    }
  }

  /** The [key, value] of a slot of `index`, read as `get` reads, or undefined. */
  #entryInSlot(index: number, slot: number, withValues: boolean): [string, unknown] | undefined {
    for (let tries = 0; tries < OPTIMISTIC_READS; tries++) {
      const space = this.#space;
      const ref = Atomics.load(space.i32, index * 2 + Index.slots / 4 + slot * 2 + 1);
      if (!space.holds(ref, Entry.key / 8)) return undefined;
      const version = Atomics.load(space.i32, ref * 2);
      if (version & 1) continue;
      const keyBytes = space.i32[ref * 2 + Entry.keyBytes / 4];
      const units = space.i32[ref * 2 + Block.units / 4];
      if (keyBytes < 0 || Entry.key + keyBytes > units * 8 || !space.reach(ref + units)) continue;
      const key = (space.bytes as unknown as Slices).utf8Slice(ref * 8 + Entry.key, ref * 8 + Entry.key + keyBytes);
      const value = withValues ? this.#valueAt(ref) : undefined;
      const expired = this.#expired(ref);
      if (unchanged(space.i32, ref * 2, version)) return expired ? undefined : [key, value];
    }
    return undefined;
  }

  // ---- writes ----

  /**
   * Runs `body` with the stripe of `key` locked and `key` looked up in the
   * current index; rebuilds the index first when a write could not find room
   * in it. `body` returns whether it changed the map.
   */
  #write(key: string, body: (found: Found) => boolean): boolean {
    if (this.#inUpdate) {
      throw new ShmError(
        ErrorCodes.WOULD_DEADLOCK,
        `a write to SharedMap ${JSON.stringify(this.name)} from inside update(): it holds a lock that write may need`,
      );
    }
    const hash = hashKey(key);
    for (;;) {
      let changed: boolean;
      try {
        changed = this.#withStripe(hash, () => {
          const found = this.#find(key, hash);
          if (found === AGAIN) throw corrupt(this.name, `the entry of ${JSON.stringify(key)} is marked free while the index points at it`);
          // An expired entry is there for its slot's sake (replaced in place), but reads as absent.
          if (found === FOUND && this.#expired(this.#ref)) return body({ slot: this.#slot, ref: this.#ref, version: this.#version, expired: true });
          return body(found === FOUND ? { slot: this.#slot, ref: this.#ref, version: this.#version } : NOT_FOUND);
        });
      } catch (err) {
        if (err !== NO_ROOM) throw err;
        this.#rebuild();
        continue;
      }
      if (changed && this.#cache) this.#evictWhileOver();
      return changed;
    }
  }

  #withStripe<R>(hash: number, body: () => R): R {
    const stripe = this.#stripeOf(hash);
    this.#lockStripe(stripe);
    try {
      return body();
    } finally {
      this.#stripeLocks[stripe].release();
    }
  }

  #lockStripe(stripe: number): void {
    for (;;) {
      const lock = this.#stripeLocks[stripe];
      if (!lock.tryFast()) this.#takeOver(lock, () => this.#recoverStripe(stripe));
      // A rebuild record left while this stripe was free: its holder died (a live one holds every stripe).
      if (Atomics.load(this.#space.control, Control.rebuildPhase) === 0) return;
      lock.release();
      this.#rebuild();
    }
  }

  /** Writes a new entry for `key` with `encoded` as its value, replacing `found`'s. NO_ROOM if the index is full. */
  #put(key: string, found: Found, encoded: Encoded, expires = 0): boolean {
    const control = this.#space.control;
    const stripe = this.#stripeOf(hashKey(key));
    const keyBytes = Buffer.byteLength(key, 'utf8');
    if (found.ref === 0 && this.#indexFull()) throw NO_ROOM;
    const heap = this.#stripeHeaps[stripe];
    const ref = heap.alloc(entryUnits(keyBytes, encoded.byteLength), stripeWord(stripe, Stripe.newRef));
    this.#fillEntry(ref, stripe, key, keyBytes, encoded, expires);
    heap.ready(ref, control[stripeWord(stripe, Stripe.newVersion)]);
    const slot = found.ref !== 0 ? found.slot : this.#claimSlot(key, stripe);
    if (slot < 0) {
      heap.free(ref, control[stripeWord(stripe, Stripe.newVersion)]);
      this.#clearRecord(stripe);
      throw NO_ROOM;
    }
    this.#publish(stripe, slot, ref, found, found.ref === 0 ? 1 : 0);
    return true;
  }

  /** Deletes `found` (the entry of `key`): its slot becomes a tombstone. */
  #remove(key: string, found: Found): boolean {
    const stripe = this.#stripeOf(hashKey(key));
    Atomics.store(this.#space.control, stripeWord(stripe, Stripe.newRef), SlotRef.tombstone);
    this.#publish(stripe, found.slot, SlotRef.tombstone, found, -1);
    return true;
  }

  /**
   * Publishes `ref` in `slot` (an entry, or a tombstone) with the stripe's
   * record saying so first, then frees the entry it replaces.
   */
  #publish(stripe: number, slot: number, ref: number, replaced: Found, countDelta: number): void {
    const control = this.#space.control;
    const count = control[stripeWord(stripe, Stripe.count)];
    const units = control[stripeWord(stripe, Stripe.units)] + this.#unitsOf(ref) - this.#unitsOf(replaced.ref);
    control[stripeWord(stripe, Stripe.slot)] = slot;
    control[stripeWord(stripe, Stripe.oldRef)] = replaced.ref;
    control[stripeWord(stripe, Stripe.oldVersion)] = replaced.version;
    control[stripeWord(stripe, Stripe.countAfter)] = count + countDelta;
    control[stripeWord(stripe, Stripe.unitsAfter)] = units;
    Atomics.store(control, stripeWord(stripe, Stripe.phase), 1);
    Atomics.store(this.#space.i32, this.#slotWord(slot) + 1, ref);
    Atomics.store(control, stripeWord(stripe, Stripe.phase), 2);
    this.#changed(stripe);
    this.#finish(stripe);
  }

  /** Phase 2 of a write: free the entry replaced, count, clear the record (also recovery's last step). */
  #finish(stripe: number): void {
    const control = this.#space.control;
    const oldRef = control[stripeWord(stripe, Stripe.oldRef)];
    if (oldRef > SlotRef.tombstone) this.#stripeHeaps[stripe].free(oldRef, control[stripeWord(stripe, Stripe.oldVersion)]);
    Atomics.store(control, stripeWord(stripe, Stripe.count), control[stripeWord(stripe, Stripe.countAfter)]);
    Atomics.store(control, stripeWord(stripe, Stripe.units), control[stripeWord(stripe, Stripe.unitsAfter)]);
    this.#clearRecord(stripe);
  }

  /** The units of entry block `ref` (0 for a tombstone or none). */
  #unitsOf(ref: number): number {
    return ref > SlotRef.tombstone ? this.#space.i32[ref * 2 + Block.units / 4] : 0;
  }

  #clearRecord(stripe: number): void {
    const control = this.#space.control;
    control[stripeWord(stripe, Stripe.newRef)] = 0;
    control[stripeWord(stripe, Stripe.oldRef)] = 0;
    Atomics.store(control, stripeWord(stripe, Stripe.phase), 0);
  }

  /** Writes an entry block: its version, key and value. */
  #fillEntry(ref: number, stripe: number, key: string, keyBytes: number, encoded: Encoded, expires: number): void {
    const space = this.#space;
    // Versions of a stripe are its counter * stripes + stripe + 1: unique in the map, rising for every key.
    const counter = stripeWord(stripe, Stripe.versionCounterF64) / 2;
    const version = ++this.#counters[counter] * this.#stripeLocks.length + stripe + 1;
    const at = ref * 8;
    space.f64[(at + Entry.versionF64) / 8] = version;
    space.i32[ref * 2 + Entry.keyBytes / 4] = keyBytes;
    space.i32[ref * 2 + Entry.valueBytes / 4] = encoded.byteLength;
    space.bytes[at + Entry.tag] = encoded.tag;
    space.bytes[at + Entry.referenced] = 0; // unread yet: evicted before entries read since the hand passed
    space.f64[(at + Entry.expiresF64) / 8] = expires;
    space.bytes.write(key, at + Entry.key, keyBytes, 'utf8');
    const valueAt = at + Entry.key + align8(keyBytes);
    if (encoded.text !== undefined) space.bytes.write(encoded.text, valueAt, encoded.byteLength, encoded.tag === Tag.asciiString ? 'latin1' : 'utf8');
    else if (encoded.bytes !== undefined && encoded.byteLength > 0) space.bytes.set(encoded.bytes, valueAt);
  }

  /** Claims a free slot for `key` (a tombstone or never used), recorded in the stripe first; -1 if none. */
  #claimSlot(key: string, stripe: number): number {
    const space = this.#space;
    const index = space.control[Control.index];
    const capacity = space.i32[index * 2 + Index.capacity / 4];
    const mask = capacity - 1;
    const hash = hashKey(key);
    for (let probe = 0, slot = hash & mask; probe < capacity; probe++, slot = (slot + 1) & mask) {
      const word = this.#slotWord(slot) + 1;
      const seen = Atomics.load(space.i32, word);
      if (seen !== SlotRef.empty && seen !== SlotRef.tombstone) continue;
      space.control[stripeWord(stripe, Stripe.slot)] = slot;
      Atomics.store(space.control, stripeWord(stripe, Stripe.phase), 1);
      if (Atomics.compareExchange(space.i32, word, seen, SlotRef.reserved) !== seen) continue;
      if (seen === SlotRef.empty) Atomics.add(space.i32, index * 2 + Index.used / 4, 1);
      space.i32[word - 1] = hash | 0;
      return slot;
    }
    return -1;
  }

  /** True if an insert should rebuild the index first (3/4 of its slots used). */
  #indexFull(): boolean {
    const space = this.#space;
    const index = space.control[Control.index];
    // Another process may have grown the file and rebuilt the index past this handle's mapping.
    if (!space.reach(index + Index.slots / 8)) throw corrupt(this.name, `its index (ref ${index}) lies past the end of the file`);
    return Atomics.load(space.i32, index * 2 + Index.used / 4) * 4 >= space.i32[index * 2 + Index.capacity / 4] * 3;
  }

  #slotWord(slot: number): number {
    return this.#space.control[Control.index] * 2 + Index.slots / 4 + slot * 2;
  }

  #versionAt(found: Found): number {
    return present(found) ? this.#space.f64[(found.ref * 8 + Entry.versionF64) / 8] : 0;
  }

  /** True if entry `ref` has passed its ttl. */
  #expired(ref: number): boolean {
    const expires = this.#space.f64[(ref * 8 + Entry.expiresF64) / 8];
    return expires !== 0 && Date.now() >= expires;
  }

  /** Cache mode: sets the entry's clock bit, if not set already (one store at most per eviction round). */
  #markRead(ref: number): void {
    const at = ref * 8 + Entry.referenced;
    if (this.#space.bytes[at] === 0) this.#space.bytes[at] = 1;
  }

  /**
   * Cache mode, after a write (holding no lock): while the map is past
   * maxEntries or maxBytes, the clock hand goes round the index; an entry
   * read since the hand last passed loses its mark and stays, one not read
   * (or expired) is deleted. Bounded: two turns of the index at most, so a
   * map whose entries are all being read does not keep a writer here.
   */
  #evictWhileOver(): void {
    const control = this.#space.control;
    const maxEntries = control[Control.maxEntries];
    const maxUnits = control[Control.maxUnits];
    const over = () => (maxEntries > 0 && this.size > maxEntries) || (maxUnits > 0 && this.#liveUnits() > maxUnits);
    if (!over()) return;
    const capacity = this.#capacityOf(control[Control.index]);
    for (let step = 0; step < capacity * 2 && over(); step++) {
      const slot = (Atomics.add(control, Control.clockHand, 1) >>> 0) % capacity;
      const ref = Atomics.load(this.#space.i32, this.#slotWord(slot) + 1);
      if (!this.#space.holds(ref, Entry.key / 8)) continue;
      const at = ref * 8 + Entry.referenced;
      if (this.#space.bytes[at] !== 0 && !this.#expired(ref)) {
        this.#space.bytes[at] = 0;
        continue;
      }
      this.#evict(ref);
    }
  }

  /** Deletes the entry at `ref` if it is still its key's (another writer may have replaced it meanwhile). */
  #evict(ref: number): void {
    const space = this.#space;
    const version = Atomics.load(space.i32, ref * 2);
    const keyBytes = space.i32[ref * 2 + Entry.keyBytes / 4];
    if (version & 1 || keyBytes < 0 || !space.holds(ref, Entry.key / 8 + Math.ceil(keyBytes / 8))) return;
    const key = (space.bytes as unknown as Slices).utf8Slice(ref * 8 + Entry.key, ref * 8 + Entry.key + keyBytes);
    if (!unchanged(space.i32, ref * 2, version)) return;
    const hash = hashKey(key);
    this.#withStripe(hash, () => {
      if (this.#find(key, hash) === FOUND && this.#ref === ref) this.#remove(key, { slot: this.#slot, ref, version: this.#version });
    });
    trace('evict', 'SharedMap entry of', this.name, key);
  }

  /** Units of every stripe's entries. */
  #liveUnits(): number {
    const control = this.#space.control;
    let units = 0;
    for (let s = 0; s < this.#stripeLocks.length; s++) units += Atomics.load(control, stripeWord(s, Stripe.units));
    return units;
  }

  /** Tells waitChange's sleepers on this stripe that one of its keys changed. */
  #changed(stripe: number): void {
    const control = this.#space.control;
    Atomics.add(control, stripeWord(stripe, Stripe.changes), 1);
    if (Atomics.load(control, stripeWord(stripe, Stripe.changeSleepers)) !== 0) {
      Atomics.store(control, stripeWord(stripe, Stripe.changeSleepers), 0);
      wakeAll(control, stripeWord(stripe, Stripe.changes));
    }
  }

  /**
   * With the stripe's lock taken over from a writer that died: finishes its
   * write if it was published, else undoes it (frees the new entry, turns a
   * slot it claimed into a tombstone). Every key keeps its old or new value.
   */
  #recoverStripe(stripe: number): void {
    // A holder killed inside the allocator left its log to apply first: it may record the block it took here.
    this.#stripeHeaps[stripe].settle();
    this.#heap.settle();
    const control = this.#space.control;
    const phase = Atomics.load(control, stripeWord(stripe, Stripe.phase));
    const newRef = control[stripeWord(stripe, Stripe.newRef)];
    trace('recover', 'SharedMap stripe of', this.name, `stripe ${stripe}, a write in phase ${phase}`);
    let published = phase === 2;
    const slot = control[stripeWord(stripe, Stripe.slot)];
    if (phase === 1 && slot >= 0 && slot < this.#capacityOf(control[Control.index])) {
      const slotWord = this.#slotWord(slot) + 1;
      const inSlot = Atomics.load(this.#space.i32, slotWord);
      published = inSlot === newRef && newRef !== 0;
      if (inSlot === SlotRef.reserved) Atomics.compareExchange(this.#space.i32, slotWord, SlotRef.reserved, SlotRef.tombstone);
    }
    if (published) {
      this.#finish(stripe);
      return;
    }
    if (newRef > SlotRef.tombstone) this.#stripeHeaps[stripe].free(newRef, control[stripeWord(stripe, Stripe.newVersion)]);
    this.#clearRecord(stripe);
  }

  /**
   * Builds a new index with room for twice the entries and no tombstones,
   * holding the rebuild lock and every stripe's, so that no write runs;
   * readers go on in the old index until the new one is published. Its
   * record lets whoever takes the lock over from a rebuilder that died
   * finish or undo it.
   */
  #rebuild(): void {
    const lock = this.#rebuildLock;
    if (!lock.tryFast()) this.#takeOver(lock, () => trace('recover', 'SharedMap rebuild of', this.name));
    let locked = 0;
    try {
      for (; locked < this.#stripeLocks.length; locked++) {
        const stripeLock = this.#stripeLocks[locked];
        if (!stripeLock.tryFast()) this.#takeOver(stripeLock, () => this.#recoverStripe(locked));
      }
      this.#recoverRebuild();
      if (this.#indexFull()) this.#rebuildIndex();
    } finally {
      for (let s = 0; s < locked; s++) this.#stripeLocks[s].release();
      lock.release();
    }
  }

  /** A rebuild record left by a rebuilder that died: publish or drop its index, and free the one replaced. */
  #recoverRebuild(): void {
    const control = this.#space.control;
    const phase = Atomics.load(control, Control.rebuildPhase);
    if (phase === 0) return;
    if (phase === 1 && control[Control.index] !== control[Control.rebuildNew]) {
      this.#heap.free(control[Control.rebuildNew], control[Control.rebuildNewVersion]);
    } else {
      // Published: the generation moves again (its holder may have died between storing the index and it), so no read stays on the old index.
      Atomics.add(control, Control.indexGen, 1);
      this.#heap.free(control[Control.rebuildOld], control[Control.rebuildOldVersion]);
    }
    Atomics.store(control, Control.rebuildPhase, 0);
  }

  #rebuildIndex(): void {
    const control = this.#space.control;
    let live = 0;
    for (const _ of this.#liveRefs()) live++; // counted in the index itself: the new one must hold them all
    const capacity = Math.max(INITIAL_SLOTS, 2 ** Math.ceil(Math.log2(Math.max(1, live) * 2.5)));
    const old = control[Control.index];
    control[Control.rebuildOld] = old;
    control[Control.rebuildOldVersion] = Atomics.load(this.#space.i32, old * 2);
    const fresh = this.#heap.alloc(indexUnits(capacity), Control.rebuildNew);
    Atomics.store(control, Control.rebuildPhase, 1);
    this.#copyIndex(old, fresh, capacity);
    this.#heap.ready(fresh, control[Control.rebuildNewVersion]);
    Atomics.store(control, Control.index, fresh);
    Atomics.add(control, Control.indexGen, 1);
    Atomics.store(control, Control.rebuildPhase, 2);
    this.#heap.free(old, control[Control.rebuildOldVersion]);
    Atomics.store(control, Control.rebuildPhase, 0);
    trace('rebuild', 'SharedMap index of', this.name, `${live} entries, ${capacity} slots`);
  }

  /** Fills index `fresh` of `capacity` slots with the entries of index `old`. */
  #copyIndex(old: number, fresh: number, capacity: number): void {
    const i32 = this.#space.i32;
    const base = fresh * 2 + Index.slots / 4;
    i32.fill(0, base, base + capacity * 2);
    i32[fresh * 2 + Index.capacity / 4] = capacity;
    let used = 0;
    const oldCapacity = i32[old * 2 + Index.capacity / 4];
    const oldBase = old * 2 + Index.slots / 4;
    const mask = capacity - 1;
    for (let slot = 0; slot < oldCapacity; slot++) {
      const ref = i32[oldBase + slot * 2 + 1];
      if (ref <= SlotRef.tombstone) continue;
      const hash = i32[oldBase + slot * 2];
      let at = hash & mask;
      while (i32[base + at * 2 + 1] !== SlotRef.empty) at = (at + 1) & mask;
      i32[base + at * 2] = hash;
      i32[base + at * 2 + 1] = ref;
      used++;
    }
    i32[fresh * 2 + Index.used / 4] = used;
  }

  /**
   * Takes a lock that its fast path found taken, blocking; `recover` runs if
   * its holder had died. This handle never waits for a lock it holds, so a
   * word that says it does was written by someone else.
   */
  #takeOver(lock: LockWord, recover: () => void): void {
    if (lock.isHeldByMe()) throw corrupt(this.name, "a lock word holds this very handle's token");
    if (lock.acquireSync(this, FOREVER) === Acquired.OwnerDied) recover();
  }

  #stripeOf(hash: number): number {
    return this.#stripeShift === 32 ? 0 : hash >>> this.#stripeShift;
  }

  /** A write from inside an update() callback would wait for the lock that callback runs under. */
  #checkNotInUpdate(): void {
    if (this.#inUpdate) {
      throw new ShmError(ErrorCodes.WOULD_DEADLOCK, `a write to ${JSON.stringify(this.name)} from inside update(): it holds a lock that write may need`);
    }
  }

  #checkOpen(): void {
    if (this.#typed.closed) throw this.closedError();
  }
}

const FOREVER = parseWaitOptions(undefined);
/** Thrown inside a stripe's lock when the index has no room for an insert: the write rebuilds it and tries again. */
const NO_ROOM = Symbol('no room');

/**
 * True if `words[index]` still holds `seen`, checked after reading what it
 * guards. On x64 a load does (loads are not reordered with older loads). On
 * arm64 a load-acquire does not keep the copy's plain loads before it, so
 * the check is a compare-and-swap of the value with itself, whose release
 * half does.
 */
const unchanged: (words: Int32Array, index: number, seen: number) => boolean =
  process.arch === 'x64'
    ? (words, index, seen) => Atomics.load(words, index) === seen
    : (words, index, seen) => Atomics.compareExchange(words, index, seen, seen) === seen;

/** Where stripe `stripe`'s own heap keeps its words. */
function stripeHeapWords(stripe: number): HeapWords {
  return {
    logCount: stripeWord(stripe, Stripe.heapLogCount),
    logPairs: stripeWord(stripe, Stripe.heapLogPairs),
    logCapacity: STRIPE_LOG_PAIRS,
    classes: stripeWord(stripe, Stripe.heapClasses),
    classCount: STRIPE_CLASSES,
    freeUnits: stripeWord(stripe, Stripe.heapUnits),
  };
}

function stripeWord(stripe: number, field: number): number {
  return Control.stripes0 + stripe * Stripe.words + field;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function checkKey(key: unknown): string {
  if (typeof key !== 'string') throw invalidArg(`a SharedMap key must be a string, got ${describeValue(key)}`);
  return key;
}

function sizeArgs(options: SharedMapOptions | undefined): { size: number; maxSize: number } {
  // Refs are int32 word pairs: 4 GiB keeps every word index of the file in an Int32Array.
  const limit = Math.min(MAX_MAPPING_BYTES, 2 ** 32);
  const size = options?.size === undefined ? DEFAULT_SIZE : checkInteger(options.size, 'options.size', MIN_SIZE, limit);
  const maxSize = options?.maxSize === undefined ? limit : checkInteger(options.maxSize, 'options.maxSize', size, limit);
  return { size: Math.floor(size / 8) * 8, maxSize: Math.floor(maxSize / 8) * 8 };
}

function cacheArgs(options: SharedMapOptions | undefined): { maxEntries: number; maxUnits: number } {
  const maxEntries = options?.maxEntries === undefined ? 0 : checkInteger(options.maxEntries, 'options.maxEntries', 1, INT32_MAX);
  const maxBytes = options?.maxBytes === undefined ? 0 : checkInteger(options.maxBytes, 'options.maxBytes', 8, 8 * INT32_MAX);
  return { maxEntries, maxUnits: Math.ceil(maxBytes / 8) };
}

function setArgs(options: unknown): { ifVersion: number | undefined; expires: number } {
  if (options === undefined) return { ifVersion: undefined, expires: 0 };
  const opts = checkObject<SetOptions>(options, 'options');
  const ifVersion = opts.ifVersion === undefined ? undefined : checkInteger(opts.ifVersion, 'options.ifVersion', 0, Number.MAX_SAFE_INTEGER);
  const ttl = opts.ttl === undefined ? undefined : checkTimeout(opts.ttl, 'options.ttl');
  return { ifVersion, expires: ttl === undefined || ttl === Infinity ? 0 : Date.now() + ttl };
}

/** Writes the control block and an empty index into a new map's memory (`data` starts after the header). */
function initialize(data: Uint8Array, size: number, maxSize: number, cache: { maxEntries: number; maxUnits: number }, stripes: number): void {
  const words = new Int32Array(data.buffer, 0, size >>> 2);
  const heapStart = heapStartRef(stripes);
  const index = heapStart;
  const indexSize = indexUnits(INITIAL_SLOTS);
  words[Control.heapEnd] = size / 8;
  words[Control.bump] = index + indexSize;
  words[Control.index] = index;
  words[Control.indexGen] = 1;
  words[Control.stripes] = stripes;
  words[Control.maxEnd] = maxSize / 8;
  words[Control.maxEntries] = cache.maxEntries;
  words[Control.maxUnits] = cache.maxUnits;
  words[index * 2 + Block.version / 4] = 2; // ready
  words[index * 2 + Block.units / 4] = indexSize;
  words[index * 2 + Index.capacity / 4] = INITIAL_SLOTS;
}

/** Checks what an opened map's control block says against its file, before anything trusts it; returns its stripes. */
function checkLayout(typed: TypedSegment): number {
  const bad = (what: string) => corrupt(typed.name, what);
  if (typed.segment.size < Control.stripes0 * 4) throw bad(`${typed.segment.size} bytes cannot hold its control block`);
  const words = new Int32Array(typed.segment.buffer, 0, Control.stripes0);
  const stripes = words[Control.stripes];
  if (!isPowerOfTwo(stripes) || stripes > 1024) throw bad(`it says it has ${stripes} stripes`);
  const heapStart = heapStartRef(stripes);
  if (typed.segment.size < heapStart * 8 + Index.slots) throw bad(`${typed.segment.size} bytes cannot hold its ${stripes} stripes`);
  const heapEnd = words[Control.heapEnd];
  const bump = words[Control.bump];
  const index = words[Control.index];
  if (heapEnd < heapStart || heapEnd > words[Control.maxEnd] || bump < heapStart || bump > heapEnd)
    throw bad(`its heap runs ${heapStart}..${bump}..${heapEnd}`);
  if (index < heapStart || index >= bump) throw bad(`its index is at ${index}, outside its heap`);
  return stripes;
}

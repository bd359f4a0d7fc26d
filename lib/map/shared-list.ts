// SharedList: Python's Manager().list() with no server, "a stack-like
// object shared between processes". It is a SharedMap of one stripe (kind
// 12) whose keys are the decimal indexes 0 .. length - 1, so it has the
// map's storage and crash rules: reads take no lock, a writer killed at any
// instant leaves every item old or new. Its length is the stripe's entry
// count, which a push or a pop changes in the same step as the entry
// (docs/format.md, "SharedList").
import type { InspectOptionsStylized } from 'node:util';
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { INSPECT, type Inspect, inspectHandle } from '../core/inspect.js';
import { MEMBER, type Member } from '../core/lifetime.js';
import { normalizeName } from '../core/names.js';
import type { OpenOptions } from '../core/options.js';
import { type HandleDescription, TRANSFER } from '../core/transfer.js';
import { unlinkTyped } from '../core/typed-segment.js';
import { checkFunction } from '../core/validate.js';
import { MISSING_VALUE, REMOVE, SharedMap, type SharedMapOptions } from './shared-map.js';

/** Options of `SharedList.create`: the map's room options. */
export type SharedListOptions = Omit<SharedMapOptions, 'maxEntries' | 'maxBytes'>;

/**
 * A list shared by every process that opens it by name: `push`, `pop`,
 * `get(i)`, `set(i, v)`, `length`, iteration. Items are what a SharedMap
 * value can be. Negative indexes count from the end, as `at()` does.
 */
export class SharedList<V = unknown> implements Disposable, Iterable<V> {
  readonly #map: SharedMap<V>;

  private constructor(map: SharedMap<V>) {
    this.#map = map;
  }

  /** Creates an empty list named `name` (`EEXIST` if the name exists). */
  static create<V = unknown>(name: string, options?: SharedListOptions): SharedList<V> {
    noCacheMode(options);
    return new SharedList(SharedMap.createKind<V>(Kind.sharedList, 1, name, options));
  }

  /** Opens an existing list by name. */
  static open<V = unknown>(name: string, options?: OpenOptions): SharedList<V> {
    return new SharedList(SharedMap.openKind<V>(Kind.sharedList, name, options));
  }

  /**
   * Opens the list `name` if it exists, else creates it (empty). An
   * existing list must have the `maxSize` given (left out: not compared).
   * @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object, or a list of another maxSize
   */
  static openOrCreate<V = unknown>(name: string, options?: SharedListOptions & OpenOptions): SharedList<V> {
    noCacheMode(options);
    return new SharedList(SharedMap.openOrCreateKind<V>(Kind.sharedList, 1, name, options));
  }

  /**
   * Removes the name `name` if it is a SharedList; processes that have it open keep using it.
   * @throws {ShmError} ENOENT; ERR_SHM_FORMAT if the name is another kind of object (nothing is removed)
   */
  static unlink(name: string): void {
    unlinkTyped(normalizeName(name), Kind.sharedList);
  }

  /** @internal How this handle crosses to another process (lib/core/transfer.ts). */
  [TRANSFER](): HandleDescription {
    return { kind: 'SharedList', name: this.name };
  }

  /** @internal What a Scope and `unlinkOnExit` need of this handle. */
  [MEMBER](): Member {
    return this.#map[MEMBER]();
  }

  get name(): string {
    return this.#map.name;
  }

  get closed(): boolean {
    return this.#map.closed;
  }

  /** What util.inspect prints (lib/core/inspect.ts). */
  [INSPECT](depth: number, options: InspectOptionsStylized, inspect: Inspect): string {
    return inspectHandle(this, () => ({ length: this.length }), depth, options, inspect);
  }

  /** How many items it holds. */
  get length(): number {
    return this.#map._count();
  }

  /** The item at `index` (negative: from the end), or undefined past either end. Takes no lock. */
  get(index: number): V | undefined {
    const length = this.length;
    const at = position(index, length);
    if (at < 0 || at >= length) return undefined;
    const value = this.#map._read(String(at));
    return value === MISSING_VALUE ? undefined : (value as V);
  }

  /** Same as `get`, as Array's `at`. */
  at(index: number): V | undefined {
    return this.get(index);
  }

  /** Sets the item at `index` (negative: from the end). @throws {ShmError} ERR_SHM_INVALID_ARG past either end */
  set(index: number, value: V): this {
    this.update(index, () => value);
    return this;
  }

  /** Appends `values`; returns the new length. */
  push(...values: V[]): number {
    for (const value of values) {
      this.#map._writeAt(
        (count) => String(count),
        () => value,
      );
    }
    return this.length;
  }

  /** Python's `append`: appends one item. */
  append(value: V): void {
    this.push(value);
  }

  /** Removes and returns the last item, or undefined if empty. */
  pop(): V | undefined {
    let popped: V | undefined;
    this.#map._writeAt(
      (count) => (count === 0 ? undefined : String(count - 1)),
      (old) => {
        popped = old as V;
        return REMOVE;
      },
    );
    return popped;
  }

  /**
   * Sets the item at `index` to `fn(old)` while the list's writers are
   * excluded; returns the new item. `fn` must not write to this list
   * (ERR_SHM_WOULD_DEADLOCK). @throws {ShmError} ERR_SHM_INVALID_ARG past either end
   */
  update(index: number, fn: (old: V) => V): V {
    checkIndex(index);
    checkFunction(fn, 'fn');
    let length = -1;
    const result = this.#map._writeAt(
      (count) => {
        const at = position(index, count);
        if (at >= 0 && at < count) return String(at);
        length = count;
        return undefined;
      },
      (old) => fn(old as V),
    );
    if (length >= 0)
      throw new ShmError(ErrorCodes.INVALID_ARG, `index ${index} is out of range for SharedList ${JSON.stringify(this.name)} of ${length} items`);
    return result as V;
  }

  /** Removes every item (from the end, one at a time). */
  clear(): void {
    while (this.length > 0) this.pop();
  }

  /** The items from first to last (weakly consistent: items pushed or popped meanwhile may or may not be seen). */
  *values(): IterableIterator<V> {
    for (let i = 0; i < this.length; i++) {
      const value = this.#map._read(String(i));
      if (value !== MISSING_VALUE) yield value as V;
    }
  }

  [Symbol.iterator](): IterableIterator<V> {
    return this.values();
  }

  forEach(callback: (value: V, index: number, list: this) => void, thisArg?: unknown): void {
    checkFunction(callback, 'callback');
    let i = 0;
    for (const value of this.values()) callback.call(thisArg, value, i++, this);
  }

  /** A plain array of the items now. */
  toArray(): V[] {
    return [...this.values()];
  }

  close(): void {
    this.#map.close();
  }

  unlink(): void {
    this.#map.unlink();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function checkIndex(index: unknown): asserts index is number {
  if (typeof index !== 'number' || !Number.isSafeInteger(index)) throw invalidArg(`a SharedList index must be an integer, got ${describeValue(index)}`);
}

/** `index` as a position from the start (negative counts from the end). */
function position(index: number, length: number): number {
  checkIndex(index);
  return index < 0 ? length + index : index;
}

function noCacheMode(options: unknown): void {
  if (options !== undefined && options !== null && typeof options === 'object' && ('maxEntries' in options || 'maxBytes' in options)) {
    throw invalidArg('a SharedList has no cache mode (maxEntries, maxBytes): use a SharedMap');
  }
}

// Python's multiprocessing.shared_memory.ShareableList (3.9+), byte for byte,
// over a plain SharedMemory segment (no shmkit header), so a list made on
// either side opens on the other. Layout, all little-endian int64 unless
// said (docs/format.md, "ShareableList"):
//
//   0            N, the item count
//   8            N + 1 offsets into the data area: 0, end of item 0, ...
//   (N + 2) * 8  the data area: item i at its offset, 8-byte slots
//   then         N struct format strings, 8 bytes each, NUL padded
//   then         N int8 back-transform codes (0 as is, 1 str, 2 bytes, 3 None)
//
// A slot's size is fixed at creation; set() keeps it (a str or bytes value
// must fit), as Python does.
import type { InspectOptionsStylized } from 'node:util';
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { INSPECT, type Inspect, inspectHandle } from '../core/inspect.js';
import { forgetAtExit, MEMBER, type Member, openOrCreate, settle, shapeMismatch } from '../core/lifetime.js';
import { normalizeName } from '../core/names.js';
import { type LifetimeOptions, lifetimeArgs, type OpenOptions, openTimeout } from '../core/options.js';
import { nameLeadsTo, nap, unlinkSegment } from '../core/segment.js';
import { type HandleDescription, TRANSFER } from '../core/transfer.js';
import { checkInteger, checkObject } from '../core/validate.js';
import { attachSized, KIND_LABEL, SharedMemory } from './shared-memory.js';

/** An empty list's segment: its count and one offset. */
const EMPTY_LIST_BYTES = 16;
/** The label that makes a ShareableList's segment speak of ShareableList in its EEXIST and ENOENT messages. */
const LABEL = { [KIND_LABEL]: 'ShareableList' };

/** Options of `ShareableList.create` and `openOrCreate`. */
export interface ShareableListOptions extends LifetimeOptions {
  /** Permission bits of the new segment, applied exactly. Default `0o600`. */
  mode?: number;
}

/** What a ShareableList item can be: Python int (number, or bigint past 2^53), float, bool, None (null), str, bytes (Uint8Array). */
export type ShareableItem = number | bigint | boolean | null | string | Uint8Array;

const INT = 'q';
const FLOAT = 'd';
const BOOL = 'xxxxxxx?';
const NONE = 'xxxxxx?x';
const Code = { asIs: 0, str: 1, bytes: 2, none: 3 } as const;
/** Format strings are 8 bytes, so a str or bytes slot ("<n>s") holds at most this many. */
const MAX_SLOT = 9_999_992;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

interface Encoded {
  format: string;
  code: number;
  bytes?: Uint8Array;
}

/** The slot format, back-transform code and bytes of one item, as Python would store it (str sized by UTF-8 bytes). */
function encodeItem(value: unknown, what: string): Encoded {
  if (value === null) return { format: NONE, code: Code.none };
  switch (typeof value) {
    case 'boolean':
      return { format: BOOL, code: Code.asIs };
    case 'number':
      // Only a safe integer is surely an int (1e300 is a float that happens to be integral); -0 is a float.
      return { format: Number.isSafeInteger(value) && !Object.is(value, -0) ? INT : FLOAT, code: Code.asIs };
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) throw invalidArg(`${what} ${describeValue(value)} does not fit an int64`);
      return { format: INT, code: Code.asIs };
    case 'string': {
      const bytes = Buffer.from(value, 'utf8');
      return { format: slotFormat(bytes.length, what), code: Code.str, bytes };
    }
    default:
      if (value instanceof Uint8Array) return { format: slotFormat(value.length, what), code: Code.bytes, bytes: value };
      throw invalidArg(`${what} must be a number, bigint, boolean, null, string or Uint8Array, not ${describeValue(value)}`);
  }
}

function slotFormat(byteLength: number, what: string): string {
  const slot = 8 * (Math.floor(byteLength / 8) + 1);
  if (slot > MAX_SLOT) throw invalidArg(`${what} has ${byteLength} bytes; a ShareableList slot holds at most ${MAX_SLOT - 1}`);
  return `${slot}s`;
}

/**
 * A fixed-length list of numbers, booleans, nulls, strings and bytes in
 * shared memory, in the exact layout of Python's
 * `multiprocessing.shared_memory.ShareableList` (3.9+): a list made here
 * opens in Python by name, and one made in Python opens here.
 *
 * As in Python: the length and each slot's size are fixed at creation (a
 * string or bytes value set later must fit its slot's bytes); trailing NUL
 * characters of strings and bytes are lost (cpython #96779). Strings are
 * sized by their UTF-8 bytes, so multibyte text round-trips (Python sizes
 * by characters and can truncate its own multibyte text: cpython #88336).
 * A safe-integer number is stored as a Python int, any other number as a
 * float; a slot that holds a float keeps holding floats when set to a number. No lock: guard concurrent
 * writers with a Lock.
 */
export class ShareableList implements Iterable<ShareableItem>, Disposable {
  /** The segment, as Python's `ShareableList.shm`. */
  readonly shm: SharedMemory;
  readonly #view: DataView;
  readonly #bytes: Uint8Array;
  readonly #length: number;
  readonly #offsets: number[];
  readonly #formatsAt: number;
  readonly #codesAt: number;

  /** `creating`: the item count of a list being written (its count word is written last), else read from the segment. */
  private constructor(shm: SharedMemory, creating?: number) {
    this.shm = shm;
    this.#view = new DataView(shm.buffer);
    this.#bytes = new Uint8Array(shm.buffer);
    const fail = (why: string) => {
      shm.close();
      return new ShmError(ErrorCodes.FORMAT, `${JSON.stringify(shm.name)} is not a ShareableList: ${why}`);
    };
    if (shm.size < 16) throw fail(`${shm.size} bytes`);
    const count = creating === undefined ? this.#view.getBigInt64(0, true) : BigInt(creating);
    if (count < 0n || count > BigInt(Math.floor((shm.size - 16) / 17))) throw fail(`item count ${count} does not fit ${shm.size} bytes`);
    this.#length = Number(count);
    if (this.#length > 0 && this.#view.getBigInt64(8, true) !== 0n) throw fail('a first offset other than 0 (Python 3.8 layout?)');
    this.#offsets = [];
    for (let i = 0; i <= this.#length; i++) {
      const offset = Number(this.#view.getBigInt64(8 + 8 * i, true));
      if (offset < (this.#offsets[i - 1] ?? 0) || offset % 8 !== 0) throw fail(`impossible offset ${offset} of item ${i}`);
      this.#offsets.push(offset);
    }
    const dataAt = (this.#length + 2) * 8;
    this.#formatsAt = dataAt + this.#offsets[this.#length];
    this.#codesAt = this.#formatsAt + 8 * this.#length;
    if (this.#codesAt + this.#length > shm.size) throw fail(`its ${this.#offsets[this.#length]} data bytes run past the segment`);
  }

  /**
   * Creates a list named `name` (a random name when null) holding `values`.
   * @throws {ShmError} EEXIST; ERR_SHM_INVALID_ARG for a value Python cannot hold (or a string or bytes over 9,999,991 bytes).
   */
  static create(name: string | null, values: Iterable<ShareableItem>, options?: ShareableListOptions): ShareableList {
    const layout = listLayout(values);
    const opts = checkObject<ShareableListOptions>(options, 'options');
    const lifetime = lifetimeArgs(opts);
    return settle(ShareableList.#create(new SharedMemory({ name, create: true, size: layout.size, mode: opts.mode, ...LABEL }), layout), lifetime);
  }

  /**
   * Opens the list `name` if it exists (made by shmkit or Python), else
   * creates it holding `values` (used only then). Of several processes
   * racing, one creates, and the others wait (up to `timeout`, default
   * 1000 ms) until it has written the list.
   * @throws {ShmError} ERR_SHM_FORMAT if `name` is not a ShareableList, or one of another length
   */
  static openOrCreate(name: string, values: Iterable<ShareableItem>, options?: ShareableListOptions & OpenOptions): ShareableList {
    const layout = listLayout(values);
    const opts = checkObject<ShareableListOptions>(options, 'options');
    const mode = opts.mode === undefined ? 0o600 : checkInteger(opts.mode, 'options.mode', 0, 0o777);
    const lifetime = lifetimeArgs(opts);
    const timeout = openTimeout(options);
    const bare = normalizeName(name);
    const list = openOrCreate(
      () => ShareableList.#openWritten(bare, timeout),
      () => ShareableList.#create(new SharedMemory({ name: bare, create: true, size: layout.size, mode, ...LABEL }), layout),
      (existing) => {
        if (existing.length !== layout.items.length) throw shapeMismatch('ShareableList', bare, `${existing.length} items`, `${layout.items.length} items`);
      },
    );
    return settle(list, lifetime);
  }

  /**
   * Writes a new list into `shm`, its item count last (with a store other
   * processes' loads see after the rest): openOrCreate's openers wait for
   * it. A failure removes the segment again.
   */
  static #create(shm: SharedMemory, layout: ReturnType<typeof listLayout>): ShareableList {
    const { items, encoded, offsets } = layout;
    const n = items.length;
    const view = new DataView(shm.buffer);
    for (const [i, offset] of offsets.entries()) view.setBigInt64(8 + 8 * i, BigInt(offset), true);
    try {
      const list = new ShareableList(shm, n);
      for (const [i, e] of encoded.entries()) list.#write(i, e, items[i]);
      Atomics.store(new BigInt64Array(shm.buffer, 0, 1), 0, BigInt(n));
      return list;
    } catch (err) {
      shm.close();
      shm.unlink(); // a failed create leaves nothing behind
      throw err;
    }
  }

  /**
   * Opens `name`, waiting up to `timeout` ms while it reads as a list that
   * its creator has not written yet: an item count of 0 in a segment larger
   * than an empty list's 16 bytes.
   */
  static #openWritten(name: string, timeout: number): ShareableList {
    const deadline = Date.now() + timeout;
    for (;;) {
      const shm = attachSized(name, Math.max(0, deadline - Date.now()), LABEL[KIND_LABEL]);
      if (shm.size <= EMPTY_LIST_BYTES || Atomics.load(new BigInt64Array(shm.buffer, 0, 1), 0) !== 0n) return new ShareableList(shm);
      shm.close();
      if (Date.now() >= deadline) {
        throw new ShmError(
          ErrorCodes.FORMAT,
          `${JSON.stringify(name)} is not a ShareableList, or its creator never finished writing it (waited ${timeout} ms)`,
        );
      }
      nap(1);
    }
  }

  /** Opens a list made by shmkit or Python. @throws {ShmError} ENOENT, ERR_SHM_FORMAT */
  static open(name: string): ShareableList {
    return new ShareableList(new SharedMemory({ name, ...LABEL }));
  }

  /**
   * Removes the name `name` if it is a ShareableList (its layout checks as
   * `open` checks it); processes that have it open keep working.
   * @throws {ShmError} ENOENT; ERR_SHM_FORMAT if it is not a ShareableList (nothing is removed; SharedMemory.unlink removes any name)
   */
  static unlink(name: string): void {
    const bare = normalizeName(name);
    let list: ShareableList;
    try {
      list = ShareableList.open(bare);
    } catch (err) {
      if (err instanceof ShmError && err.code === ErrorCodes.FORMAT) {
        throw new ShmError(ErrorCodes.FORMAT, `${err.message}: ShareableList.unlink removed nothing (SharedMemory.unlink removes any name)`);
      }
      throw err;
    }
    list.#unlinkIfStill(list.shm[MEMBER]().identity);
  }

  /** The name, without a leading slash. */
  get name(): string {
    return this.shm.name;
  }

  get length(): number {
    return this.#length;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.shm.closed;
  }

  /** What util.inspect prints (lib/core/inspect.ts). */
  [INSPECT](depth: number, options: InspectOptionsStylized, inspect: Inspect): string {
    return inspectHandle(this, () => ({ length: this.length }), depth, options, inspect);
  }

  /** Item `index` (negative counts from the end, as in Python). @throws {ShmError} ERR_SHM_INVALID_ARG out of range; ERR_SHM_FORMAT for a slot Python never writes */
  get(index: number): ShareableItem {
    const i = this.#position(index);
    const format = this.#format(i);
    const at = this.#dataAt(i);
    switch (format) {
      case INT: {
        const v = this.#view.getBigInt64(at, true);
        return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v;
      }
      case FLOAT:
        return this.#view.getFloat64(at, true);
      case BOOL:
        return this.#bytes[at + 7] !== 0;
      case NONE:
        return null;
    }
    const slot = /^(\d+)s$/.exec(format);
    const size = slot ? Number(slot[1]) : -1;
    if (size < 0 || at + size > this.#formatsAt)
      throw new ShmError(ErrorCodes.FORMAT, `item ${i} has format ${JSON.stringify(format)}, which shmkit cannot read`);
    let end = at + size;
    while (end > at && this.#bytes[end - 1] === 0) end--; // Python strips trailing NULs too
    const bytes = this.#bytes.subarray(at, end);
    const code = this.#view.getInt8(this.#codesAt + i);
    if (code === Code.str) return Buffer.from(bytes).toString('utf8');
    if (code === Code.bytes) return new Uint8Array(bytes);
    throw new ShmError(ErrorCodes.FORMAT, `item ${i} has back-transform code ${code} for format ${JSON.stringify(format)}`);
  }

  /**
   * Sets item `index`. Its slot keeps its size: a string or bytes value must
   * fit it (an int, float, bool or null fits any slot).
   * @throws {ShmError} ERR_SHM_INVALID_ARG (out of range, a value Python cannot hold, too long for the slot)
   */
  set(index: number, value: ShareableItem): void {
    const i = this.#position(index);
    const slot = this.#offsets[i + 1] - this.#offsets[i];
    let encoded = encodeItem(value, `item ${i}`);
    if (encoded.bytes !== undefined) {
      if (encoded.bytes.length > slot) throw invalidArg(`item ${i} holds at most ${slot} bytes; ${describeValue(value)} has ${encoded.bytes.length}`);
      encoded = { ...encoded, format: `${slot}s` };
    } else if (typeof value === 'number' && this.#format(i) === FLOAT) {
      encoded = { ...encoded, format: FLOAT }; // a float slot stays a float slot
    }
    this.#write(i, encoded, value);
  }

  /** How many items equal `value` (bytes compare by content). */
  count(value: ShareableItem): number {
    let n = 0;
    for (const item of this) if (same(item, value)) n++;
    return n;
  }

  /** The first index of `value`. @throws {ShmError} ERR_SHM_INVALID_ARG if it is not in the list (Python: ValueError) */
  index(value: ShareableItem): number {
    for (let i = 0; i < this.#length; i++) if (same(this.get(i), value)) return i;
    throw invalidArg(`${describeValue(value)} is not in ShareableList ${JSON.stringify(this.name)}`);
  }

  *[Symbol.iterator](): Iterator<ShareableItem> {
    for (let i = 0; i < this.#length; i++) yield this.get(i);
  }

  /** Unmaps the list (idempotent); does not unlink. */
  close(): void {
    this.shm.close();
  }

  /** Removes the name. */
  unlink(): void {
    this.shm.unlink();
  }

  /** @internal How this handle crosses to another process (lib/core/transfer.ts). */
  [TRANSFER](): HandleDescription {
    return { kind: 'ShareableList', name: this.name };
  }

  /** @internal What a Scope and `unlinkOnExit` need of this handle. */
  [MEMBER](): Member {
    return { ...this.shm[MEMBER](), close: () => this.close() };
  }

  /** Closes this handle, then removes the name if it still leads to the list it checked. */
  #unlinkIfStill(identity: string): void {
    const name = this.name;
    this.close();
    if (!nameLeadsTo(name, identity)) {
      throw new ShmError(ErrorCodes.FORMAT, `${JSON.stringify(name)} was replaced while it was checked: ShareableList.unlink removed nothing`);
    }
    unlinkSegment(name);
    forgetAtExit({ namespace: 'segment', identity, name });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #position(index: unknown): number {
    if (this.shm.closed) throw new ShmError(ErrorCodes.CLOSED, `ShareableList ${JSON.stringify(this.name)} is closed`);
    const i = checkInteger(index, 'index', -this.#length, this.#length - 1);
    return i < 0 ? i + this.#length : i;
  }

  #dataAt(i: number): number {
    return (this.#length + 2) * 8 + this.#offsets[i];
  }

  #format(i: number): string {
    const raw = this.#bytes.subarray(this.#formatsAt + 8 * i, this.#formatsAt + 8 * i + 8);
    const end = raw.indexOf(0);
    return Buffer.from(end < 0 ? raw : raw.subarray(0, end)).toString('latin1');
  }

  #write(i: number, encoded: Encoded, value: unknown): void {
    const at = this.#dataAt(i);
    const slot = this.#offsets[i + 1] - this.#offsets[i];
    this.#bytes.fill(0, at, at + slot);
    if (encoded.format === INT) this.#view.setBigInt64(at, BigInt(value as number | bigint), true);
    else if (encoded.format === FLOAT) this.#view.setFloat64(at, value as number, true);
    else if (encoded.format === BOOL) this.#bytes[at + 7] = value ? 1 : 0;
    else if (encoded.bytes !== undefined) this.#bytes.set(encoded.bytes, at);
    const format = this.#bytes.subarray(this.#formatsAt + 8 * i, this.#formatsAt + 8 * i + 8);
    format.fill(0);
    Buffer.from(format.buffer, format.byteOffset, 8).write(encoded.format, 'latin1');
    this.#view.setInt8(this.#codesAt + i, encoded.code);
  }
}

/** Python's ==, for the items a list holds: ints compare with bigints by value, bytes by content. */
function same(a: ShareableItem, b: ShareableItem): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
  const x = asInteger(a);
  const y = asInteger(b);
  if (x !== undefined && y !== undefined) return x === y;
  return a === b; // NaN is not equal to itself, as in Python
}

function asInteger(v: ShareableItem): bigint | undefined {
  if (typeof v === 'bigint') return v;
  return typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : undefined;
}

/** The slots and size of a new list holding `values`, as Python lays it out. */
function listLayout(values: Iterable<ShareableItem>) {
  if (values === null || typeof (values as Iterable<unknown>)?.[Symbol.iterator] !== 'function') throw invalidArg('values must be iterable');
  const items = [...values];
  const encoded = items.map((v, i) => encodeItem(v, `item ${i}`));
  const offsets = [0];
  for (const e of encoded) offsets.push(offsets[offsets.length - 1] + (e.format.endsWith('s') ? Number.parseInt(e.format, 10) : 8));
  const n = items.length;
  return { items, encoded, offsets, size: 8 + 8 * (n + 1) + offsets[n] + 9 * n };
}

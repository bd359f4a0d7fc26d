// Plain data as MessagePack, written and read here in one walk each: what
// JSON could carry, and undefined. Writing checks that a value is plain as
// it goes (one walk, not a check and then msgpackr's own walk), and reads
// come straight from a ring's frame. Anything this reader does not know
// (MessagePack another program wrote: binaries, extensions, 64-bit
// integers, non-string keys) is read by msgpackr instead, so every valid
// message still decodes; this writer writes only what msgpackr reads back
// alike. docs/design.md, "Messages", has the measurements behind this.
import { Unpackr } from 'msgpackr';

/** Deeper than this, a value is not plain: it goes through v8.serialize (which also keeps cycles). */
const PLAIN_DEPTH = 32;

/**
 * msgpackr, for messages this reader leaves to it. Objects decode with
 * Object.prototype, as structured clone makes them; copyBuffers: a
 * MessagePack binary decodes to a copy, never a view of a ring.
 */
const msgpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

// ---- writing ----

const SCRATCH_BYTES = 8192;
/** A scratch this large is not kept for the messages after the one that needed it. */
const SCRATCH_KEPT = 1 << 20;

/**
 * Where messages are written. Each starts after the last one, and a full
 * scratch is replaced, never reused, so bytes handed out stay intact while
 * a write that waits keeps them (the promise msgpackr's own buffer made).
 */
let scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
/** Where the next message starts in scratch. */
let next = 0;
/** Where the message being written starts, and the write position. */
let start = 0;
let at = 0;
/** True while packPlain runs (a getter of the value may run anything). */
let packing = false;

const numberCell = new Float64Array(1);
const numberBytes = new Uint8Array(numberCell.buffer);

/**
 * `value` as MessagePack if it is plain data: MessagePack gives back exactly
 * what structured clone would. That is null, undefined, booleans,
 * well-formed strings (UTF-8 has no lone surrogates), numbers but -0, and
 * arrays (dense, nothing but their elements) and objects (Object.prototype
 * or none, no "__proto__" key, well-formed keys) of those, at most 32
 * deep. undefined for anything else, which keeps v8.serialize. The bytes are
 * a view of the scratch that nothing writes again.
 */
export function packPlain(value: unknown): Uint8Array | undefined {
  // A getter that sends a message itself would write over this one: its message takes the structured way.
  if (packing) return undefined;
  packing = true;
  try {
    if (scratch.length > SCRATCH_KEPT) newScratch(SCRATCH_BYTES, 0);
    start = next;
    at = next;
    if (!write(value, 0)) return undefined;
    next = at;
    return new Uint8Array(scratch.buffer, scratch.byteOffset + start, at - start);
  } finally {
    packing = false;
  }
}

/** Makes room for `bytes` more at `at`: a new scratch, the message so far copied to its start, when this one is full. */
function room(bytes: number): void {
  if (at + bytes > scratch.length) newScratch(Math.max(SCRATCH_BYTES, 2 * (at - start + bytes)), at - start);
}

function newScratch(size: number, keep: number): void {
  const fresh = Buffer.allocUnsafeSlow(size);
  scratch.copy(fresh, 0, start, start + keep);
  scratch = fresh;
  start = 0;
  at = keep;
  next = 0;
}

function write(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      return writeString(value);
    case 'number':
      return writeNumber(value);
    case 'boolean':
      room(1);
      scratch[at++] = value ? 0xc3 : 0xc2;
      return true;
    case 'undefined':
      // fixext 1 of type 0, which msgpackr reads as undefined.
      room(3);
      scratch[at++] = 0xd4;
      scratch[at++] = 0;
      scratch[at++] = 0;
      return true;
    case 'object':
      if (value === null) {
        room(1);
        scratch[at++] = 0xc0;
        return true;
      }
      if (depth >= PLAIN_DEPTH) return false;
      return Array.isArray(value) ? writeArray(value, depth) : writeObject(value, depth);
    default:
      return false;
  }
}

function writeNumber(value: number): boolean {
  if ((value | 0) === value) {
    if (value === 0 && 1 / value < 0) return false; // -0: structured clone keeps it, MessagePack would not
    room(5);
    if (value >= 0) {
      if (value < 0x80) scratch[at++] = value;
      else if (value < 0x100) writeHeader(0xcc, value, 1);
      else if (value < 0x10000) writeHeader(0xcd, value, 2);
      else writeHeader(0xce, value, 4);
    } else if (value >= -32) scratch[at++] = value & 0xff;
    else if (value >= -0x80) writeHeader(0xd0, value, 1);
    else if (value >= -0x8000) writeHeader(0xd1, value, 2);
    else writeHeader(0xd2, value, 4);
    return true;
  }
  room(9);
  if (value >>> 0 === value) {
    writeHeader(0xce, value, 4);
    return true;
  }
  // float64, big-endian (this is a little-endian machine: Node runs on no other).
  numberCell[0] = value;
  scratch[at++] = 0xcb;
  for (let i = 7; i >= 0; i--) scratch[at++] = numberBytes[i];
  return true;
}

/** A type byte, then `value` big-endian in `bytes` bytes (room made by the caller). */
function writeHeader(type: number, value: number, bytes: number): void {
  scratch[at++] = type;
  for (let shift = (bytes - 1) * 8; shift >= 0; shift -= 8) scratch[at++] = (value >>> shift) & 0xff;
}

/** An array's or map's header for `count` entries: the fix form, or the 16- or 32-bit one (`type16`, `type16` + 1). */
function writeCount(fix: number, fixMax: number, type16: number, count: number): void {
  if (count <= fixMax) scratch[at++] = fix | count;
  else if (count < 0x10000) writeHeader(type16, count, 2);
  else writeHeader(type16 + 1, count, 4);
}

function writeString(text: string): boolean {
  const length = text.length;
  if (length < 32) {
    // Short ASCII text, the common key or value, copied here as it is checked.
    room(1 + length);
    const base = at + 1;
    let i = 0;
    for (; i < length; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0x80) break;
      scratch[base + i] = unit;
    }
    if (i === length) {
      scratch[at] = 0xa0 | length;
      at = base + length;
      return true;
    }
  }
  if (!isWellFormed(text)) return false;
  // The header's size is chosen for the most bytes the text can take (3 per UTF-16 unit): a longer header than needed is still valid MessagePack.
  const most = length * 3;
  const header = most < 32 ? 1 : most < 0x100 ? 2 : most < 0x10000 ? 3 : 5;
  room(header + most);
  const bytes = scratch.write(text, at + header, most, 'utf8');
  if (header === 1) scratch[at++] = 0xa0 | bytes;
  else writeHeader(header === 2 ? 0xd9 : header === 3 ? 0xda : 0xdb, bytes, header - 1);
  at += bytes;
  return true;
}

/** String.prototype.isWellFormed (ES2024; Node 20 has it): no lone surrogate, which UTF-8 would turn into U+FFFD. */
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

function writeArray(array: unknown[], depth: number): boolean {
  if (Object.getPrototypeOf(array) !== Array.prototype) return false;
  const length = array.length;
  room(5);
  writeCount(0x90, 15, 0xdc, length);
  for (let i = 0; i < length; i++) if (!(i in array) || !write(array[i], depth + 1)) return false;
  return Object.keys(array).length === length;
}

function writeObject(object: object, depth: number): boolean {
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(object);
  const count = keys.length;
  room(5);
  writeCount(0x80, 15, 0xde, count);
  for (let i = 0; i < count; i++) {
    const key = keys[i];
    if (key === '__proto__' || !writeString(key) || !write((object as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

// ---- reading ----

/** Thrown (never escapes) where this reader leaves a message to msgpackr: a type it does not read, or bytes that run out. */
const LEAVE = new Error('left to msgpackr');

/** The message being read: bytes [pos, end) of src. */
let src: Buffer = Buffer.alloc(0);
let pos = 0;
let end = 0;

/**
 * Plain data read from bytes [from, to) of `bytes` (a ring's frame, where it
 * lies): every string and number is copied out as it is read, so nothing
 * returned refers to `bytes`. @throws what msgpackr throws for bytes that
 * are not one whole MessagePack value.
 */
export function unpackPlainAt(bytes: Buffer, from: number, to: number): unknown {
  src = bytes;
  pos = from;
  end = to;
  try {
    const value = read();
    if (pos === end) return value;
  } catch (err) {
    if (err !== LEAVE) throw err;
  } finally {
    src = EMPTY;
  }
  return msgpackr.unpack(bytes, { start: from, end: to });
}

const EMPTY = Buffer.alloc(0);

/** Moves past `bytes` bytes, returning where they start. */
function take(bytes: number): number {
  const at = pos;
  if (bytes > end - at) throw LEAVE;
  pos = at + bytes;
  return at;
}

function read(): unknown {
  const type = src[take(1)];
  if (type < 0x80) return type;
  if (type >= 0xe0) return type - 0x100;
  if (type < 0x90) return readMap(type & 0x0f);
  if (type < 0xa0) return readArray(type & 0x0f);
  if (type < 0xc0) return readString(type & 0x1f);
  switch (type) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xcb:
      return readFloat64();
    case 0xcc:
    case 0xcd:
    case 0xce:
      return readUint(1 << (type - 0xcc));
    case 0xd0:
    case 0xd1:
    case 0xd2:
      return readInt(1 << (type - 0xd0));
    case 0xd4: {
      const at = take(2);
      if (src[at] !== 0 || src[at + 1] !== 0) throw LEAVE; // an extension of another type
      return undefined;
    }
    case 0xd9:
    case 0xda:
    case 0xdb:
      return readString(readUint(1 << (type - 0xd9)));
    case 0xdc:
    case 0xdd:
      return readArray(readUint(2 << (type - 0xdc)));
    case 0xde:
    case 0xdf:
      return readMap(readUint(2 << (type - 0xde)));
    default:
      throw LEAVE;
  }
}

function readUint(bytes: number): number {
  const at = take(bytes);
  let value = 0;
  for (let i = 0; i < bytes; i++) value = value * 256 + src[at + i];
  return value;
}

function readInt(bytes: number): number {
  const value = readUint(bytes);
  const half = 2 ** (8 * bytes - 1);
  return value >= half ? value - 2 * half : value;
}

function readFloat64(): number {
  const at = take(8);
  for (let i = 0; i < 8; i++) numberBytes[7 - i] = src[at + i];
  return numberCell[0];
}

function readArray(length: number): unknown[] {
  if (length > end - pos) throw LEAVE; // each element takes a byte at least: a corrupt length, not a huge array
  const array = new Array(length);
  for (let i = 0; i < length; i++) array[i] = read();
  return array;
}

function readMap(count: number): Record<string, unknown> {
  if (count > end - pos) throw LEAVE;
  const object: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    // A string key; anything else (and "__proto__", which msgpackr renames) is msgpackr's to read.
    const type = src[take(1)];
    let key: string;
    if (type >= 0xa0 && type < 0xc0) key = readString(type & 0x1f);
    else if (type === 0xd9) key = readString(readUint(1));
    else throw LEAVE;
    if (key === '__proto__') throw LEAVE;
    object[key] = read();
  }
  return object;
}

/**
 * Short strings (map keys, and values that repeat: an operation's name)
 * are looked up in a cache of those read before, by their bytes, so one
 * read again costs a compare and no allocation.
 */
const CACHED_BYTES = 32;
const CACHE_ENTRIES = 1024;
const cacheBytes = new Uint8Array(CACHE_ENTRIES * CACHED_BYTES);
const cacheLengths = new Int32Array(CACHE_ENTRIES).fill(-1);
const cacheStrings: string[] = new Array<string>(CACHE_ENTRIES).fill('');

function readString(length: number): string {
  const at = take(length);
  if (length === 0) return '';
  if (length > CACHED_BYTES) return src.toString('utf8', at, at + length);
  const entry = (length * 31 + src[at] * 7 + src[at + (length >> 1)] * 131 + src[at + length - 1]) & (CACHE_ENTRIES - 1);
  const base = entry * CACHED_BYTES;
  if (cacheLengths[entry] === length) {
    let i = 0;
    while (i < length && cacheBytes[base + i] === src[at + i]) i++;
    if (i === length) return cacheStrings[entry];
  }
  const text = src.toString('utf8', at, at + length);
  for (let i = 0; i < length; i++) cacheBytes[base + i] = src[at + i];
  cacheLengths[entry] = length;
  cacheStrings[entry] = text;
  return text;
}

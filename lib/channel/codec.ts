// How a message is stored in a ring: a tag saying what it was, and bytes.
// Bytes and typed arrays travel as their raw bytes and come back as the same
// type; strings as UTF-8; plain data (what JSON could carry, and undefined)
// as MessagePack; anything else structured-cloneable through v8.serialize
// (encodeStructured). Channels and SharedMap values share this codec.
import { deserialize, serialize } from 'node:v8';
import { invalidArg } from '../core/errors.js';
import { Tag } from '../core/layout.js';
import { describeHandles, reviveHandlesNow } from '../core/transfer.js';
import { packPlain, unpackPlainAt } from './plain.js';

/**
 * What a message's bytes are (native/core/layout.h): a Buffer, UTF-8 or ASCII
 * text (an ASCII string's bytes are its characters, copied as latin1, faster
 * than UTF-8), v8.serialize data, an ArrayBuffer, a DataView, typed arrays
 * (typedBase + index in TYPED_ARRAYS); and for SharedMap values only
 * (encodeValue): a number as its 8 float64 bytes, true, false, null,
 * undefined (no bytes), and plain data as MessagePack.
 */
export { Tag };

export type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

const TYPED_ARRAYS: readonly TypedArrayConstructor[] = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];

/** The typed array class a tag stands for; undefined if it stands for none. */
export function typedArrayOf(tag: number): TypedArrayConstructor | undefined {
  const index = tag - Tag.typedBase;
  // Bounds checked: a negative index would be a property lookup by name, off V8's fast path.
  return index >= 0 && index < TYPED_ARRAYS.length ? TYPED_ARRAYS[index] : undefined;
}

/** A message ready to be copied into a ring: a tag and its bytes (or a string to encode). */
export interface Encoded {
  tag: number;
  bytes: Uint8Array | undefined;
  text: string | undefined;
  byteLength: number;
}

/** An Encoded to fill (each ring keeps one, so a send allocates no object for it). */
export function emptyEncoded(): Encoded {
  return { tag: 0, bytes: undefined, text: undefined, byteLength: 0 };
}

/** A copy of `encoded`, for a write that has to wait (the ring's own one is refilled by the next send). */
export function keepEncoded(encoded: Encoded): Encoded {
  return { tag: encoded.tag, bytes: encoded.bytes, text: encoded.text, byteLength: encoded.byteLength };
}

/** Encodes `message` into `into` and returns it. */
export function encode(message: unknown, into: Encoded): Encoded {
  if (typeof message === 'string') {
    const byteLength = Buffer.byteLength(message, 'utf8');
    // As many UTF-8 bytes as UTF-16 units only if every character is ASCII.
    return fill(into, byteLength === message.length ? Tag.asciiString : Tag.string, undefined, message, byteLength);
  }
  if (Buffer.isBuffer(message)) return fill(into, Tag.buffer, message, undefined, message.byteLength);
  if (ArrayBuffer.isView(message)) {
    const bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
    if (message instanceof DataView) return fill(into, Tag.dataView, bytes, undefined, bytes.byteLength);
    const index = TYPED_ARRAYS.indexOf(message.constructor as TypedArrayConstructor);
    if (index >= 0) return fill(into, Tag.typedBase + index, bytes, undefined, bytes.byteLength);
  }
  if (message instanceof ArrayBuffer) return fill(into, Tag.arrayBuffer, new Uint8Array(message), undefined, message.byteLength);
  // Plain data as MessagePack (lib/channel/plain.ts): it gives back exactly
  // what structured clone would, and encodes and decodes several times
  // faster than v8.serialize (docs/design.md, "Messages").
  const plain = packPlain(message);
  if (plain !== undefined) return fill(into, Tag.msgpack, plain, undefined, plain.byteLength);
  return encodeStructured(message, into);
}

/**
 * The structured path: what only structured clone carries (Map, Set, Date,
 * BigInt, RegExp, cycles, -0, sparse arrays, typed arrays inside objects,
 * class instances as their own properties) through v8.serialize. Every
 * such message goes through here, and comes back through decodeStructured.
 */
export function encodeStructured(message: unknown, into: Encoded): Encoded {
  let bytes: Buffer;
  // shmkit handles travel as descriptions (lib/core/transfer.ts), under a tag of their own: only those are opened on receipt.
  const described = describeHandles(message);
  try {
    bytes = serialize(described);
  } catch (err) {
    throw invalidArg(`the message cannot be sent: ${(err as Error).message} (send bytes, strings or structured-cloneable values)`);
  }
  return fill(into, described === message ? Tag.serialized : Tag.handles, bytes, undefined, bytes.byteLength);
}

/** What encodeStructured wrote, rebuilt from a private copy of its bytes (v8.deserialize may keep views of them). */
export function decodeStructured(bytes: Buffer): unknown {
  return deserialize(bytes);
}

const numberCell = new Float64Array(1);
const numberBytes = new Uint8Array(numberCell.buffer);
const NO_BYTES = new Uint8Array(0);

/**
 * Encodes a SharedMap value: as `encode` does, and numbers, booleans, null
 * and undefined with tags of their own. The bytes of a number are reused by the next
 * call: copy them first.
 */
export function encodeValue(value: unknown, into: Encoded): Encoded {
  switch (typeof value) {
    case 'number':
      numberCell[0] = value;
      return fill(into, Tag.number, numberBytes, undefined, 8);
    case 'boolean':
      return fill(into, value ? Tag.true : Tag.false, NO_BYTES, undefined, 0);
    case 'undefined':
      return fill(into, Tag.undefined, NO_BYTES, undefined, 0);
    case 'object':
      if (value === null) return fill(into, Tag.null, NO_BYTES, undefined, 0);
      return encode(value, into);
    default:
      return encode(value, into);
  }
}

function fill(into: Encoded, tag: number, bytes: Uint8Array | undefined, text: string | undefined, byteLength: number): Encoded {
  into.tag = tag;
  into.bytes = bytes;
  into.text = text;
  into.byteLength = byteLength;
  return into;
}

/** Rebuilds a message from its tag and a private copy of its bytes. */
export function decode(tag: number, bytes: Buffer): unknown {
  switch (tag) {
    case Tag.buffer:
      return bytes;
    case Tag.string:
    case Tag.asciiString:
      return bytes.toString('utf8');
    case Tag.serialized:
      return decodeStructured(bytes);
    case Tag.handles:
      return reviveHandlesNow(decodeStructured(bytes));
    case Tag.arrayBuffer:
      return toOwnArrayBuffer(bytes);
    case Tag.dataView:
      return new DataView(toOwnArrayBuffer(bytes));
    case Tag.number:
      return bytes.readDoubleLE(0);
    case Tag.true:
      return true;
    case Tag.false:
      return false;
    case Tag.null:
      return null;
    case Tag.undefined:
      return undefined;
    case Tag.msgpack:
      return unpackPlainAt(bytes, 0, bytes.byteLength);
    default: {
      const T = typedArrayOf(tag);
      if (!T) throw invalidArg(`unknown message tag ${tag}`);
      return new T(toOwnArrayBuffer(bytes), 0, bytes.byteLength / T.BYTES_PER_ELEMENT);
    }
  }
}

/**
 * Plain data decoded from bytes [start, end) of `bytes` where they lie (a
 * ring's frame): MessagePack strings and numbers are copied out as they are
 * decoded, so nothing returned refers to `bytes`.
 */
export function decodePlainAt(bytes: Buffer, start: number, end: number): unknown {
  if (end <= start) throw invalidArg('an empty MessagePack message');
  return unpackPlainAt(bytes, start, end);
}

/** The bytes in an ArrayBuffer of their own, aligned for any typed array. */
function toOwnArrayBuffer(bytes: Buffer): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

// How a message is stored in a ring: a tag saying what it was, and bytes.
// Bytes and typed arrays travel as their raw bytes and come back as the same
// type; strings as UTF-8; anything else structured-cloneable through
// v8.serialize.
import { deserialize, serialize } from 'node:v8';
import { invalidArg } from '../core/errors.js';

export const Tag = {
  buffer: 0,
  string: 1,
  serialized: 2,
  arrayBuffer: 3,
  dataView: 4,
  /** A string of ASCII characters only: its bytes are its characters (copied as latin1, faster than UTF-8). */
  asciiString: 5,
  // typed arrays: 16 + index in TYPED_ARRAYS
  typedBase: 16,
} as const;

type TypedArrayConstructor =
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
  let bytes: Buffer;
  try {
    bytes = serialize(message);
  } catch (err) {
    throw invalidArg(`the message cannot be sent: ${(err as Error).message} (send bytes, strings or structured-cloneable values)`);
  }
  return fill(into, Tag.serialized, bytes, undefined, bytes.byteLength);
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
      return deserialize(bytes);
    case Tag.arrayBuffer:
      return toOwnArrayBuffer(bytes);
    case Tag.dataView:
      return new DataView(toOwnArrayBuffer(bytes));
    default: {
      const T = TYPED_ARRAYS[tag - Tag.typedBase];
      if (!T) throw invalidArg(`unknown message tag ${tag}`);
      return new T(toOwnArrayBuffer(bytes), 0, bytes.byteLength / T.BYTES_PER_ELEMENT);
    }
  }
}

/** The bytes in an ArrayBuffer of their own, aligned for any typed array. */
function toOwnArrayBuffer(bytes: Buffer): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

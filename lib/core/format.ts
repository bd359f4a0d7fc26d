// The header of every typed shmkit segment (Value, Array, and the named
// synchronization objects after them). docs/format.md describes the same
// layout for C and Python readers: change both together, and bump
// FORMAT_VERSION for any change an older reader would misread.
//
// All fields are little-endian (every supported target is little-endian, so
// Atomics on the Int32Array view and the DataView agree).

import { type DTypeInfo, dtypeFromCode } from './dtypes.js';
import { ErrorCodes, ShmError } from './errors.js';

/** 'SHMK' read as a little-endian uint32: bytes 53 48 4D 4B. */
export const MAGIC = 0x4b4d4853;
export const FORMAT_VERSION = 5;
/** Data starts here: a multiple of 64 (one cache line). */
export const HEADER_SIZE = 128;

/** Byte offsets of the header fields. */
export const Offset = {
  magic: 0, // u32
  version: 4, // u16
  kind: 6, // u8
  dtype: 7, // u8 (0 for objects without elements)
  state: 8, // i32: 0 initialising, 1 ready (written last)
  dataOffset: 12, // u32
  count: 16, // u64 element count
  dataBytes: 24, // u64
  tokenCounter: 32, // i32: last handle token handed out
  lockWord: 64, // i32: 0 free, else holder token (| WAITERS_BIT)
} as const;

/** Int32 indexes (byte offset / 4) for Atomics on the header. */
export const Word = {
  state: Offset.state / 4,
  tokenCounter: Offset.tokenCounter / 4,
  lockWord: Offset.lockWord / 4,
} as const;

export const State = { initialising: 0, ready: 1 } as const;

export const Kind = {
  value: 1,
  array: 2,
  lock: 3,
  rlock: 4,
  event: 5,
  condition: 6,
  barrier: 7,
  queue: 8,
  pipe: 9,
  boundedSemaphore: 10,
  sharedMap: 11,
  sharedList: 12,
} as const;
export type KindCode = (typeof Kind)[keyof typeof Kind];

const KIND_NAMES: Record<number, string> = {
  1: 'Value',
  2: 'Array',
  3: 'Lock',
  4: 'RLock',
  5: 'Event',
  6: 'Condition',
  7: 'Barrier',
  8: 'Queue',
  9: 'Pipe',
  10: 'BoundedSemaphore',
  11: 'SharedMap',
  12: 'SharedList',
};

/** The dtype of every object of a kind (Value and Array choose theirs): the code's views depend on it. */
const FIXED_DTYPE: Partial<Record<number, string>> = {
  [Kind.lock]: 'int32',
  [Kind.rlock]: 'int32',
  [Kind.event]: 'int32',
  [Kind.condition]: 'int32',
  [Kind.barrier]: 'int32',
  [Kind.boundedSemaphore]: 'int32',
  [Kind.queue]: 'uint8',
  [Kind.pipe]: 'uint8',
  [Kind.sharedMap]: 'uint8',
  [Kind.sharedList]: 'uint8',
};

export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? `kind ${kind}`;
}

export interface Header {
  kind: number;
  dtype: DTypeInfo;
  count: number;
}

/** Writes every field but `state`, which the creator stores last. */
export function writeHeader(buffer: ArrayBuffer, kind: KindCode, dtype: DTypeInfo, count: number): void {
  const view = new DataView(buffer, 0, HEADER_SIZE);
  view.setUint32(Offset.magic, MAGIC, true);
  view.setUint16(Offset.version, FORMAT_VERSION, true);
  view.setUint8(Offset.kind, kind);
  view.setUint8(Offset.dtype, dtype.code);
  view.setUint32(Offset.dataOffset, HEADER_SIZE, true);
  view.setBigUint64(Offset.count, BigInt(count), true);
  view.setBigUint64(Offset.dataBytes, BigInt(count * dtype.bytes), true);
}

/** True when the first bytes cannot belong to a shmkit object at all. */
export function hasForeignMagic(buffer: ArrayBuffer): boolean {
  const magic = new DataView(buffer, 0, 4).getUint32(0, true);
  return magic !== 0 && magic !== MAGIC;
}

/**
 * Reads and checks a ready header against the segment's real size, so that
 * nothing is ever read past the end of the mapping.
 */
export function readHeader(buffer: ArrayBuffer, name: string, expectedKind: KindCode): Header {
  const what = JSON.stringify(name);
  const view = new DataView(buffer, 0, HEADER_SIZE);
  if (view.getUint32(Offset.magic, true) !== MAGIC) {
    throw new ShmError(ErrorCodes.FORMAT, `${what} is not a shmkit object (no SHMK magic; a raw SharedMemory or another program's segment?)`);
  }
  const version = view.getUint16(Offset.version, true);
  if (version !== FORMAT_VERSION) {
    throw new ShmError(
      ErrorCodes.VERSION,
      `${what} uses shmkit format version ${version}; this shmkit reads version ${FORMAT_VERSION}${version > FORMAT_VERSION ? ' (upgrade shmkit)' : ''}`,
    );
  }
  const kind = view.getUint8(Offset.kind);
  if (kind !== expectedKind) {
    throw new ShmError(ErrorCodes.FORMAT, `${what} is a shmkit ${kindName(kind)}, not a ${kindName(expectedKind)}`);
  }
  const dtype = dtypeFromCode(view.getUint8(Offset.dtype));
  if (!dtype) throw new ShmError(ErrorCodes.FORMAT, `${what} has unknown dtype code ${view.getUint8(Offset.dtype)}`);
  const fixed = FIXED_DTYPE[kind];
  if (fixed !== undefined && dtype.name !== fixed) {
    throw new ShmError(ErrorCodes.FORMAT, `${what} is a ${kindName(kind)} of ${dtype.name}; a ${kindName(kind)} is made of ${fixed}`);
  }
  const count = view.getBigUint64(Offset.count, true);
  const dataBytes = view.getBigUint64(Offset.dataBytes, true);
  const dataOffset = view.getUint32(Offset.dataOffset, true);
  const size = BigInt(buffer.byteLength);
  if (dataOffset !== HEADER_SIZE || dataBytes !== count * BigInt(dtype.bytes) || BigInt(dataOffset) + dataBytes > size) {
    throw new ShmError(
      ErrorCodes.FORMAT,
      `${what}: header says ${count} ${dtype.name} elements (${dataBytes} bytes at offset ${dataOffset}) but the segment is ${size} bytes`,
    );
  }
  return { kind, dtype, count: Number(count) };
}

/**
 * Why the first bytes of a file of `fileSize` bytes are not a whole shmkit
 * header, or undefined if they are one: magic, a version this shmkit knows (1
 * to FORMAT_VERSION), a known kind, its dtype, a state of 0 or 1, and sizes
 * that agree with each other and the file. `shmkit` (bin/) counts only such
 * files as shmkit objects, and removes nothing else: a file that merely
 * begins with the magic is someone else's.
 */
export function headerProblem(bytes: Uint8Array, fileSize: number): string | undefined {
  if (bytes.length < HEADER_SIZE || fileSize < HEADER_SIZE) return `${fileSize} bytes: shorter than a header`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  if (view.getUint32(Offset.magic, true) !== MAGIC) return 'no SHMK magic';
  const version = view.getUint16(Offset.version, true);
  if (version < 1 || version > FORMAT_VERSION) return `format version ${version}`;
  const kind = view.getUint8(Offset.kind);
  if (KIND_NAMES[kind] === undefined) return `kind ${kind}`;
  const dtype = dtypeFromCode(view.getUint8(Offset.dtype));
  const fixed = FIXED_DTYPE[kind];
  if (!dtype || (fixed !== undefined && dtype.name !== fixed)) return `dtype code ${view.getUint8(Offset.dtype)} for a ${kindName(kind)}`;
  const state = view.getInt32(Offset.state, true);
  if (state !== State.initialising && state !== State.ready) return `state ${state}`;
  const count = view.getBigUint64(Offset.count, true);
  const dataBytes = view.getBigUint64(Offset.dataBytes, true);
  const dataOffset = view.getUint32(Offset.dataOffset, true);
  if (dataOffset !== HEADER_SIZE || dataBytes !== count * BigInt(dtype.bytes) || BigInt(dataOffset) + dataBytes > BigInt(fileSize)) {
    return `${count} ${dtype.name} elements (${dataBytes} bytes at offset ${dataOffset}) in ${fileSize} bytes`;
  }
  return undefined;
}

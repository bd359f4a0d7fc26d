// Creating and opening the self-describing segments that typed objects live
// in. A creator fills the header and data, then publishes `state = ready`; an
// opener waits (briefly) for that, so it never sees a half-made object.
import { constants as bufferConstants } from 'node:buffer';
import { ErrorCodes, ShmError } from './errors.js';
import type { DTypeInfo, SharedTypedArray } from './dtypes.js';
import { HEADER_SIZE, State, Word, hasForeignMagic, readHeader, writeHeader, type KindCode } from './format.js';
import { createSegment, openSegment, unlinkSegment, type MappedSegment } from './segment.js';

/** How long open() waits by default for a creator to finish initialising. */
export const DEFAULT_OPEN_TIMEOUT_MS = 1000;

export interface TypedSegment {
  readonly segment: MappedSegment;
  /** The header as int32 words, for Atomics (see format.ts `Word`). */
  readonly header: Int32Array;
  readonly dtype: DTypeInfo;
  readonly count: number;
  /** The elements, as the dtype's TypedArray over the shared data. */
  readonly data: SharedTypedArray;
}

/** Most elements one object may hold: what a TypedArray over the data allows. */
export function maxElements(dtype: DTypeInfo): number {
  return Math.floor(bufferConstants.MAX_LENGTH / dtype.bytes);
}

function view(segment: MappedSegment, dtype: DTypeInfo, count: number): TypedSegment {
  const header = new Int32Array(segment.buffer, 0, HEADER_SIZE / 4);
  const data = new dtype.ArrayType(segment.buffer, HEADER_SIZE, count) as SharedTypedArray;
  return { segment, header, dtype, count, data };
}

/**
 * Creates `name` (EEXIST if it exists) holding `count` elements of `dtype`,
 * lets `fill` write the initial data, then marks it ready. A failure before
 * that removes the segment again.
 */
export function createTyped(
  name: string,
  kind: KindCode,
  dtype: DTypeInfo,
  count: number,
  mode: number,
  fill: (data: SharedTypedArray) => void,
): TypedSegment {
  const segment = createSegment(name, HEADER_SIZE + count * dtype.bytes, mode);
  try {
    writeHeader(segment.buffer, kind, dtype, count);
    const typed = view(segment, dtype, count);
    fill(typed.data);
    Atomics.store(typed.header, Word.state, State.ready);
    return typed;
  } catch (err) {
    segment.close();
    unlinkSegment(name);
    throw err;
  }
}

const napCell = new Int32Array(new SharedArrayBuffer(4));
function nap(ms: number): void {
  Atomics.wait(napCell, 0, 0, ms);
}

/**
 * Opens a typed object by name, discovering dtype and length from its
 * header. Waits up to `timeoutMs` for a creator that is still initialising.
 * @throws {ShmError} ENOENT, ERR_SHM_FORMAT, ERR_SHM_VERSION
 */
export function openTyped(name: string, kind: KindCode, timeoutMs: number): TypedSegment {
  const deadline = Date.now() + timeoutMs;
  const what = JSON.stringify(name);
  for (;;) {
    const expired = Date.now() >= deadline;
    let segment: MappedSegment;
    try {
      segment = openSegment(name);
    } catch (err) {
      // Size 0: the creator is between shm_open and allocation.
      if (err instanceof ShmError && err.code === ErrorCodes.EMPTY && !expired) {
        nap(1);
        continue;
      }
      if (err instanceof ShmError && err.code === ErrorCodes.EMPTY) {
        throw new ShmError(ErrorCodes.FORMAT, `${what} has size 0: not a shmkit object, or its creator never sized it (waited ${timeoutMs} ms)`);
      }
      throw err;
    }
    if (segment.size < HEADER_SIZE || hasForeignMagic(segment.buffer)) {
      segment.close();
      throw new ShmError(ErrorCodes.FORMAT, `${what} is not a shmkit object (${segment.size} bytes, no SHMK header)`);
    }
    const header = new Int32Array(segment.buffer, 0, HEADER_SIZE / 4);
    if (Atomics.load(header, Word.state) !== State.ready) {
      segment.close();
      if (expired) {
        throw new ShmError(
          ErrorCodes.FORMAT,
          `${what} was not marked ready within ${timeoutMs} ms: not a shmkit object, or its creator died (or is still) initialising it`,
        );
      }
      nap(1);
      continue;
    }
    try {
      const { dtype, count } = readHeader(segment.buffer, name, kind);
      return view(segment, dtype, count);
    } catch (err) {
      segment.close();
      throw err;
    }
  }
}

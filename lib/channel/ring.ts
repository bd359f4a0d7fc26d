// A byte ring in shared memory carrying framed messages, the core of Queue
// and Pipe. Layout (docs/format.md): 192 bytes of control words, then
// `capacity` bytes (a power of two). Positions are free-running u32 counters;
// a frame is [u32 length][u32 tag][payload, padded to 8 bytes] and may wrap.
//
// Commit order keeps crashes harmless: a writer copies the whole frame, then
// publishes it with one store to TAIL; a reader copies a frame out, then frees
// it with one store to HEAD. A process killed mid-copy has published nothing.
//
// Waiting: a reader that finds the ring empty spins ~20 us, then flags itself
// in READERS_WAITING and sleeps on TAIL; a writer calls the native wake only
// when that flag is set (and the same for writers waiting for room on HEAD).
import { ErrorCodes, ShmError, sys } from '../core/errors.js';
import { decode, encode, type Encoded, Tag } from './codec.js';
import { native } from '../core/native.js';
import { sleepAsync, sleepSync, type ParsedWait } from '../sync/sync-object.js';

/** Int32 indexes of the control words; writer-side and reader-side words on separate cache lines. */
export const Ctl = {
  tail: 0,
  writersWaiting: 1,
  putLock: 2,
  head: 16,
  readersWaiting: 17,
  getLock: 18,
  count: 32,
  maxsize: 33,
  capacity: 34,
  /** 1 if COUNT is kept (queues); a pipe's ring skips it, saving two shared writes a message. */
  counted: 35,
} as const;

export const RING_CONTROL_BYTES = 192;
const FRAME_HEADER = 8;
const SPIN_MS = 0.02;
/** Longest sleep before the caller looks around (deadline, peer, closed). */
export const RING_SLICE_MS = 100;

export const EMPTY = Symbol('empty');

/** Ring capacity for a requested size: a power of two, at least 64 bytes. */
export function ringCapacity(requested: number): number {
  let capacity = 64;
  while (capacity < requested) capacity *= 2;
  return capacity;
}

export function frameSize(payloadBytes: number): number {
  return FRAME_HEADER + ((payloadBytes + 7) & ~7);
}

export function ringBytes(capacity: number): number {
  return RING_CONTROL_BYTES + capacity;
}

export class Ring {
  readonly words: Int32Array;
  readonly capacity: number;
  readonly #mask: number;
  readonly #bytes: Buffer;
  readonly #frames: Uint32Array;
  readonly #counted: boolean;
  /** HEAD as the last tryWrite that found no room saw it: what a writer waits to see change. */
  #headWhenFull = 0;

  /** A view of the ring at `byteOffset` of `buffer` (its control words first). */
  constructor(buffer: ArrayBuffer, byteOffset: number) {
    this.words = new Int32Array(buffer, byteOffset, RING_CONTROL_BYTES / 4);
    this.capacity = Atomics.load(this.words, Ctl.capacity);
    this.#mask = this.capacity - 1;
    this.#bytes = Buffer.from(buffer, byteOffset + RING_CONTROL_BYTES, this.capacity);
    this.#frames = new Uint32Array(buffer, byteOffset + RING_CONTROL_BYTES, this.capacity / 4);
    this.#counted = Atomics.load(this.words, Ctl.counted) === 1;
  }

  /** Writes a fresh ring's control words (by the segment's creator). */
  static init(buffer: ArrayBuffer, byteOffset: number, capacity: number, maxsize: number, counted: boolean): void {
    const words = new Int32Array(buffer, byteOffset, RING_CONTROL_BYTES / 4);
    words[Ctl.capacity] = capacity;
    words[Ctl.maxsize] = maxsize;
    words[Ctl.counted] = counted ? 1 : 0;
  }

  /** Largest payload one message may have. */
  get maxPayload(): number {
    return this.capacity - FRAME_HEADER;
  }

  /**
   * Encodes a message for this ring. @throws {ShmError}
   * ERR_SHM_MESSAGE_TOO_LARGE if it could never fit (`kind` and `name` name
   * the channel in the error; nothing is formatted on the hot path).
   */
  encode(message: unknown, kind: string, name: string): Encoded {
    const encoded = encode(message);
    if (encoded.byteLength > this.maxPayload) {
      throw new ShmError(
        ErrorCodes.MESSAGE_TOO_LARGE,
        `a ${encoded.byteLength}-byte message can never fit ${kind} ${JSON.stringify(name)} (at most ${this.maxPayload} bytes; create it with a larger capacity)`,
      );
    }
    return encoded;
  }

  /** Messages in the ring now (kept only by counted rings). */
  get count(): number {
    return Atomics.load(this.words, Ctl.count);
  }

  /** True if a message is waiting to be read. */
  hasData(): boolean {
    return Atomics.load(this.words, Ctl.tail) !== Atomics.load(this.words, Ctl.head);
  }

  /** True if a message of `payloadBytes` cannot be written now. */
  isFull(payloadBytes = 0): boolean {
    const used = (Atomics.load(this.words, Ctl.tail) - Atomics.load(this.words, Ctl.head)) >>> 0;
    const maxsize = this.words[Ctl.maxsize];
    return this.capacity - used < frameSize(payloadBytes) || (maxsize > 0 && this.count >= maxsize);
  }

  /** Copies one message in and publishes it; false if there is no room now. */
  tryWrite(message: Encoded): boolean {
    const words = this.words;
    const need = frameSize(message.byteLength);
    const tail = Atomics.load(words, Ctl.tail) >>> 0;
    const head = Atomics.load(words, Ctl.head);
    const used = (tail - (head >>> 0)) >>> 0;
    const maxsize = words[Ctl.maxsize];
    if (this.capacity - used < need || (maxsize > 0 && Atomics.load(words, Ctl.count) >= maxsize)) {
      this.#headWhenFull = head;
      return false;
    }
    const at = tail & this.#mask;
    this.#frames[at >> 2] = message.byteLength;
    this.#frames[(at >> 2) + 1] = message.tag;
    this.#copyIn(message, (at + FRAME_HEADER) & this.#mask);
    Atomics.store(words, Ctl.tail, (tail + need) | 0);
    if (this.#counted) Atomics.add(words, Ctl.count, 1);
    if (Atomics.load(words, Ctl.readersWaiting) > 0) native.notify(words, Ctl.tail, 1);
    return true;
  }

  /** Copies the oldest message out and frees its room; EMPTY if there is none. */
  tryRead(): unknown {
    const frame = this.#oldestFrame();
    if (frame === undefined) return EMPTY;
    const { start, length, tag } = frame;
    const message = tag === Tag.string && start + length <= this.capacity
      ? this.#bytes.toString('utf8', start, start + length) // decoded straight from shared memory
      : decode(tag, this.#copyOut(start, length, Buffer.allocUnsafe(length)));
    this.#free(frame);
    return message;
  }

  /** Copies the oldest message, which must be bytes, into `target`; its length, or EMPTY. */
  tryReadInto(target: Uint8Array): number | typeof EMPTY {
    const frame = this.#oldestFrame();
    if (frame === undefined) return EMPTY;
    if (frame.tag === Tag.string || frame.tag === Tag.serialized) {
      throw new ShmError(ErrorCodes.INVALID_ARG, 'the next message is not bytes: receive it with recv()');
    }
    if (frame.length > target.byteLength) {
      throw new ShmError(ErrorCodes.INVALID_SIZE, `the next message has ${frame.length} bytes; the target holds ${target.byteLength}`);
    }
    this.#copyOut(frame.start, frame.length, target);
    this.#free(frame);
    return frame.length;
  }

  /** The frame at HEAD, checked against what is published; undefined if the ring is empty. */
  #oldestFrame(): { head: number; start: number; length: number; tag: number } | undefined {
    const head = Atomics.load(this.words, Ctl.head) >>> 0;
    const available = ((Atomics.load(this.words, Ctl.tail) >>> 0) - head) >>> 0;
    if (available === 0) return undefined;
    const at = head & this.#mask;
    const length = this.#frames[at >> 2];
    const tag = this.#frames[(at >> 2) + 1];
    if (length > this.maxPayload || frameSize(length) > available) {
      throw new ShmError(ErrorCodes.FORMAT, `corrupt ring: a ${length}-byte frame with ${available} bytes published`);
    }
    return { head, start: (at + FRAME_HEADER) & this.#mask, length, tag };
  }

  /** Frees a frame that has been copied out: one store to HEAD, then a wake if a writer waits. */
  #free(frame: { head: number; length: number }): void {
    const words = this.words;
    Atomics.store(words, Ctl.head, (frame.head + frameSize(frame.length)) | 0);
    if (this.#counted) Atomics.sub(words, Ctl.count, 1);
    if (Atomics.load(words, Ctl.writersWaiting) > 0) native.notify(words, Ctl.head, 1);
  }

  // The waits compare against what the failed tryRead / tryWrite saw, never a
  // fresh load: a message published in between must end the wait at once.

  /**
   * After tryRead found the ring empty: waits (spinning briefly, then
   * sleeping) until TAIL moves past our HEAD. False if the deadline passed.
   */
  async waitForData(wait: ParsedWait): Promise<boolean> {
    return this.#wait(Ctl.tail, Atomics.load(this.words, Ctl.head), Ctl.readersWaiting, wait);
  }

  waitForDataSync(wait: ParsedWait): boolean {
    return this.#waitSync(Ctl.tail, Atomics.load(this.words, Ctl.head), Ctl.readersWaiting, wait);
  }

  /** After tryWrite found no room: waits until a reader moves HEAD. False if the deadline passed. */
  async waitForRoom(wait: ParsedWait): Promise<boolean> {
    return this.#wait(Ctl.head, this.#headWhenFull, Ctl.writersWaiting, wait);
  }

  waitForRoomSync(wait: ParsedWait): boolean {
    return this.#waitSync(Ctl.head, this.#headWhenFull, Ctl.writersWaiting, wait);
  }

  /** Wakes everyone sleeping on this ring (a peer closing, a cancel). */
  wakeAll(): void {
    sys(() => native.notify(this.words, Ctl.tail, 2 ** 31 - 1));
    sys(() => native.notify(this.words, Ctl.head, 2 ** 31 - 1));
  }

  /** Spins for about one wake-up cost while `index` keeps its value. True if it changed. */
  #spin(index: number, seen: number): boolean {
    const until = performance.now() + SPIN_MS;
    do {
      if (Atomics.load(this.words, index) !== seen) return true;
    } while (performance.now() < until);
    return false;
  }

  async #wait(index: number, seen: number, flag: number, wait: ParsedWait): Promise<boolean> {
    if (this.#spin(index, seen)) return true;
    const slice = { deadline: Math.min(wait.deadline, performance.now() + RING_SLICE_MS), signal: wait.signal };
    Atomics.add(this.words, flag, 1);
    try {
      if (Atomics.load(this.words, index) !== seen) return true;
      await sleepAsync(this.words, index, seen, slice);
    } finally {
      Atomics.sub(this.words, flag, 1);
    }
    return performance.now() < wait.deadline;
  }

  #waitSync(index: number, seen: number, flag: number, wait: ParsedWait): boolean {
    if (this.#spin(index, seen)) return true;
    const slice = { deadline: Math.min(wait.deadline, performance.now() + RING_SLICE_MS), signal: undefined };
    Atomics.add(this.words, flag, 1);
    try {
      if (Atomics.load(this.words, index) === seen) sleepSync(this.words, index, seen, slice);
    } finally {
      Atomics.sub(this.words, flag, 1);
    }
    return performance.now() < wait.deadline;
  }

  #copyIn(message: Encoded, start: number): void {
    const length = message.byteLength;
    const first = Math.min(length, this.capacity - start);
    if (message.text !== undefined) {
      if (first === length) {
        this.#bytes.write(message.text, start, length, 'utf8');
        return;
      }
      message = { ...message, bytes: Buffer.from(message.text, 'utf8') };
    }
    const bytes = message.bytes!;
    this.#bytes.set(first === length ? bytes : bytes.subarray(0, first), start);
    if (first < length) this.#bytes.set(bytes.subarray(first), 0);
  }

  #copyOut<T extends Uint8Array>(start: number, length: number, out: T): T {
    const first = Math.min(length, this.capacity - start);
    out.set(this.#bytes.subarray(start, start + first), 0);
    if (first < length) out.set(this.#bytes.subarray(0, length - first), first);
    return out;
  }
}

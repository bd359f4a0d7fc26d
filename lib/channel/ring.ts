// A byte ring in shared memory carrying framed messages, the core of Queue
// and Pipe. Layout (docs/format.md): 192 bytes of control words, then
// `capacity` bytes (a power of two). Positions are free-running u32 counters;
// a frame is [u32 length][u32 tag][payload, padded to 8 bytes]. A frame never
// wraps: one that would is preceded by a padding frame to the ring's end, so
// every payload is one contiguous range of shared memory (what views and
// reserved slots hand out).
//
// Commit order keeps crashes harmless: a writer copies the whole frame, then
// publishes it with one store to TAIL; a reader copies a frame out, then frees
// it with one store to HEAD. A process killed mid-copy has published nothing.
//
// Waiting goes through the wait driver: a reader that finds the ring empty
// spins (adaptively), then sets READERS_WAITING and sleeps on TAIL; a writer
// that finds the flag set clears it and wakes TAIL's sleepers, so writes make
// no system call while no one sleeps (and the same for writers waiting for
// room: WRITERS_WAITING, HEAD). The flag is cleared by the waker, not the
// sleeper: a sleeper that leaves (timeout, abort, close, SIGKILL) costs at
// most one spurious wake instead of a wake per message for ever.
import { ErrorCodes, ShmError, sys } from '../core/errors.js';
import { native } from '../core/native.js';
import type { MappedSegment } from '../core/segment.js';
import { checkInteger } from '../core/validate.js';
import { RETRY, Spinner, type WaitPlan, type WordSleep } from '../sync/waiting.js';
import { decode, type Encoded, emptyEncoded, encode, readString, Tag, writeString } from './codec.js';

/**
 * Int32 indexes of the control words, one cache line per group: what the
 * writer stores per message (tail), what the reader stores per message
 * (head), the fixed words, and the waiting flags, which are read per message
 * but written only by a waiter about to sleep. A word read on every message
 * must not share a line with one the other side writes on every message, or
 * each message moves that line between the cores once more.
 */
export const Ctl = {
  tail: 0,
  putLock: 2,
  head: 16,
  getLock: 18,
  count: 32,
  maxsize: 33,
  capacity: 34,
  /** 1 if COUNT is kept (queues); a pipe's ring skips it, saving two shared writes a message. */
  counted: 35,
  readersWaiting: 48,
  writersWaiting: 49,
} as const;

export const RING_CONTROL_BYTES = 256;
export const FRAME_HEADER = 8;
/** Tag of a padding frame: it fills the ring to its end; readers skip it. */
const PADDING = 0xffffffff;
/** Longest sleep before a pipe looks for a dead peer again. */
export const RING_SLICE_MS = 100;

/** What tryRead returns when the ring holds no message. */
export const NO_MESSAGE = Symbol('no message');

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

/** A published frame at HEAD: its payload is ring bytes [start, start + length). */
export interface Frame {
  readonly head: number;
  readonly start: number;
  readonly length: number;
  readonly tag: number;
}

export class Ring {
  readonly words: Int32Array;
  readonly capacity: number;
  readonly #mask: number;
  readonly #bytes: Buffer;
  readonly #frames: Uint32Array;
  readonly #counted: boolean;
  readonly #segment: MappedSegment;
  /** Byte offset of the ring's first data byte in the segment. */
  readonly #dataOffset: number;
  /** HEAD as this writer last read it (#free). */
  #cachedHead = 0;
  /** TAIL after this writer's last store to it. */
  #tailWritten = -1;
  /** What #oldestFrame() returns, refilled on each call (peek() hands out copies). */
  readonly #frame = { head: 0, start: 0, length: 0, tag: 0 };
  /** HEAD as the last tryWrite that found no room saw it: what a writer waits to see change. */
  #headWhenFull = 0;
  /** What encode() fills: a send allocates no object to describe its message. */
  readonly #encoded = emptyEncoded();
  /** Adaptive spinning of this handle's readers and writers of the ring. */
  readonly readSpinner = new Spinner();
  readonly writeSpinner = new Spinner();

  /**
   * The ring at `byteOffset` of `segment`, which must end by `end`.
   * Its control words come from shared memory: anything impossible is
   * ERR_SHM_FORMAT (`what` names the channel), never a RangeError.
   */
  constructor(segment: MappedSegment, byteOffset: number, end: number, what: string) {
    const buffer = segment.buffer;
    this.#segment = segment;
    this.#dataOffset = byteOffset + RING_CONTROL_BYTES;
    this.words = new Int32Array(buffer, byteOffset, RING_CONTROL_BYTES / 4);
    this.capacity = Atomics.load(this.words, Ctl.capacity);
    const counted = Atomics.load(this.words, Ctl.counted);
    if (this.capacity < 64 || (this.capacity & (this.capacity - 1)) !== 0 || byteOffset + ringBytes(this.capacity) > end) {
      throw new ShmError(ErrorCodes.FORMAT, `${what} has a corrupt ring: capacity ${this.capacity} does not fit its ${end - byteOffset} bytes`);
    }
    if ((counted !== 0 && counted !== 1) || Atomics.load(this.words, Ctl.maxsize) < 0) {
      throw new ShmError(ErrorCodes.FORMAT, `${what} has a corrupt ring: impossible control words`);
    }
    this.#mask = this.capacity - 1;
    this.#bytes = Buffer.from(buffer, byteOffset + RING_CONTROL_BYTES, this.capacity);
    this.#frames = new Uint32Array(buffer, byteOffset + RING_CONTROL_BYTES, this.capacity / 4);
    this.#counted = Atomics.load(this.words, Ctl.counted) === 1;
    // Every byte of a ring is used within one pass: map its pages now, in one
    // system call, rather than fault them in one by one while messages flow.
    segment.populate(this.#dataOffset, this.capacity);
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
   * Encodes a message for this ring, into the ring's one Encoded: valid until
   * the next encode() on this ring, so a write that has to wait keeps a copy
   * (keepEncoded). @throws {ShmError} ERR_SHM_MESSAGE_TOO_LARGE if it could
   * never fit (`kind` and `name` name the channel in the error; nothing is
   * formatted on the hot path).
   */
  encode(message: unknown, kind: string, name: string): Encoded {
    const encoded = encode(message, this.#encoded);
    this.checkFits(encoded.byteLength, kind, name);
    return encoded;
  }

  /** A `reserve(byteLength)` argument checked: an integer that can fit. @throws {ShmError} ERR_SHM_INVALID_ARG, ERR_SHM_MESSAGE_TOO_LARGE */
  reservable(byteLength: unknown, kind: string, name: string): number {
    const length = checkInteger(byteLength, 'byteLength', 0, Number.MAX_SAFE_INTEGER);
    this.checkFits(length, kind, name);
    return length;
  }

  /** @throws {ShmError} ERR_SHM_MESSAGE_TOO_LARGE if a message of `byteLength` could never fit. */
  checkFits(byteLength: number, kind: string, name: string): void {
    if (byteLength > this.maxPayload) {
      throw new ShmError(
        ErrorCodes.MESSAGE_TOO_LARGE,
        `a ${byteLength}-byte message can never fit ${kind} ${JSON.stringify(name)} (at most ${this.maxPayload} bytes; create it with a larger capacity)`,
      );
    }
  }

  /** Messages in the ring now (kept only by counted rings). */
  get count(): number {
    return Atomics.load(this.words, Ctl.count);
  }

  /** HEAD now: bytes ever consumed (moves only as a reader frees room). */
  get head(): number {
    return Atomics.load(this.words, Ctl.head);
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
    const at = this.tryReserve(message.byteLength);
    if (at < 0) return false;
    this.#copyIn(message, at + FRAME_HEADER);
    this.publish(at, message.byteLength, message.tag);
    // An Encoded must not keep its message alive once sent (the ring's own one lives as long as the ring).
    message.bytes = undefined;
    message.text = undefined;
    return true;
  }

  /**
   * Finds room for a frame of `payloadBytes` at the tail, contiguous: when it
   * would run past the ring's end, a padding frame to the end is published
   * first (once there is room for it) and the frame goes at 0. Returns the
   * frame's offset in the ring, or -1 if there is no room now (a writer then
   * waits for HEAD to move). Nothing is visible to readers until publish().
   */
  tryReserve(payloadBytes: number): number {
    const words = this.words;
    const need = frameSize(payloadBytes);
    const maxsize = words[Ctl.maxsize];
    if (maxsize > 0 && Atomics.load(words, Ctl.count) >= maxsize) return this.#noRoom();
    let tail = Atomics.load(words, Ctl.tail) >>> 0;
    let at = tail & this.#mask;
    const toEnd = this.capacity - at;
    if (need > toEnd) {
      if (this.#free(tail, toEnd) < toEnd) return this.#noRoom();
      this.#frames[at >> 2] = toEnd - FRAME_HEADER;
      this.#frames[(at >> 2) + 1] = PADDING;
      const padding = tail;
      tail = (tail + toEnd) >>> 0;
      Atomics.store(words, Ctl.tail, tail | 0);
      this.#tailWritten = tail;
      // If every message before the padding has been read, skip it here (a
      // reader may be skipping it too: both store the same HEAD), so that a
      // message over half the ring fits an empty ring with no reader's help.
      // Else a reader frees it; wake one that sleeps.
      if (Atomics.compareExchange(words, Ctl.head, padding | 0, tail | 0) !== (padding | 0)) {
        wakeIfFlagged(words, Ctl.readersWaiting, Ctl.tail);
      }
      at = 0;
    }
    return this.#free(tail, need) < need ? this.#noRoom() : at;
  }

  /** Publishes the frame reserved at `at` (its payload written): one store to TAIL. */
  publish(at: number, payloadBytes: number, tag: number): void {
    const words = this.words;
    this.#frames[at >> 2] = payloadBytes;
    this.#frames[(at >> 2) + 1] = tag;
    const tail = (Atomics.load(words, Ctl.tail) + frameSize(payloadBytes)) >>> 0;
    Atomics.store(words, Ctl.tail, tail | 0);
    this.#tailWritten = tail;
    if (this.#counted) Atomics.add(words, Ctl.count, 1);
    wakeIfFlagged(words, Ctl.readersWaiting, Ctl.tail);
  }

  /**
   * Bytes free ahead of `tail`, at least `need` if there are. Counted from
   * HEAD as this writer last read it, which is never ahead of the real one
   * (so never too much room), and read again only when that is too little:
   * a writer does not pull the reader's cache line on every message.
   */
  #free(tail: number, need: number): number {
    let free = this.capacity - ((tail - this.#cachedHead) >>> 0);
    // Only while no other writer moved TAIL (a Queue's producers take turns) is the cache known to be within one ring of it.
    if (free < need || tail !== this.#tailWritten) {
      this.#cachedHead = Atomics.load(this.words, Ctl.head) >>> 0;
      free = this.capacity - ((tail - this.#cachedHead) >>> 0);
    }
    return free;
  }

  /** Remembers HEAD as a writer that found no room saw it (what it waits to see move). */
  #noRoom(): number {
    this.#headWhenFull = Atomics.load(this.words, Ctl.head);
    return -1;
  }

  /** Copies the oldest message out and frees its room; NO_MESSAGE if there is none. */
  tryRead(): unknown {
    const frame = this.#oldestFrame();
    if (frame === undefined) return NO_MESSAGE;
    const { start, length, tag } = frame;
    let message: unknown;
    try {
      message =
        tag === Tag.asciiString || tag === Tag.string
          ? readString(this.#bytes, start, start + length, tag) // decoded straight from shared memory
          : decode(tag, this.#copyOut(start, length, freshBuffer(length)));
    } catch (err) {
      // Skip it: a message that cannot be decoded must not block the ones behind it.
      this.release(frame);
      throw new ShmError(ErrorCodes.FORMAT, `a ${length}-byte message with tag ${tag} could not be decoded and was dropped`, { cause: err });
    }
    this.release(frame);
    return message;
  }

  /** Copies the oldest message, which must be bytes, into `target`; its length, or NO_MESSAGE. */
  tryReadInto(target: Uint8Array): number | typeof NO_MESSAGE {
    const frame = this.#oldestFrame();
    if (frame === undefined) return NO_MESSAGE;
    if (frame.tag === Tag.string || frame.tag === Tag.asciiString || frame.tag === Tag.serialized) {
      throw new ShmError(ErrorCodes.INVALID_ARG, 'the next message is not bytes: receive it with recv()');
    }
    if (frame.length > target.byteLength) {
      throw new ShmError(ErrorCodes.INVALID_SIZE, `the next message has ${frame.length} bytes; the target holds ${target.byteLength}`);
    }
    this.#copyOut(frame.start, frame.length, target);
    this.release(frame);
    return frame.length;
  }

  /** The oldest message's frame, left in the ring (release() frees it); undefined if there is none. */
  peek(): Frame | undefined {
    const frame = this.#oldestFrame();
    return frame && { ...frame };
  }

  /** A detachable view of ring bytes [start, start + length): a frame's payload, or a reserved one. */
  viewOf(start: number, length: number): Uint8Array {
    return new Uint8Array(this.#segment.view(this.#dataOffset + start, length));
  }

  /**
   * The frame at HEAD, checked against what is published; undefined if the
   * ring is empty. Positions or a frame header that cannot be right (another
   * program wrote them) drop everything published, so that the ring works
   * again, and report it.
   */
  #oldestFrame(): Frame | undefined {
    for (;;) {
      const head = Atomics.load(this.words, Ctl.head) >>> 0;
      const tail = Atomics.load(this.words, Ctl.tail) >>> 0;
      const available = (tail - head) >>> 0;
      if (available === 0) return undefined;
      const at = head & this.#mask;
      const length = this.#frames[at >> 2];
      const tag = this.#frames[(at >> 2) + 1];
      // A writer that skipped a padding frame here may already be writing over it: read again.
      if (Atomics.load(this.words, Ctl.head) >>> 0 !== head) continue;
      const padding = tag === PADDING;
      const end = at + frameSize(length);
      if (
        available > this.capacity ||
        (head & 7) !== 0 ||
        length > this.maxPayload ||
        end - at > available ||
        end > this.capacity ||
        (padding && end !== this.capacity)
      ) {
        Atomics.store(this.words, Ctl.head, tail | 0);
        if (this.#counted) Atomics.store(this.words, Ctl.count, 0);
        wakeIfFlagged(this.words, Ctl.writersWaiting, Ctl.head);
        throw new ShmError(ErrorCodes.FORMAT, `corrupt ring: a ${length}-byte frame with ${available} bytes published; the ${available} bytes were dropped`);
      }
      if (!padding) {
        const frame = this.#frame; // one object per ring, refilled: no allocation per message
        frame.head = head;
        frame.start = at + FRAME_HEADER;
        frame.length = length;
        frame.tag = tag;
        return frame;
      }
      this.#advanceHead(head, end - at, false);
    }
  }

  /** Frees a frame that has been read: one store to HEAD, then a wake if a writer waits. */
  release(frame: Frame): void {
    this.#advanceHead(frame.head, frameSize(frame.length), true);
  }

  #advanceHead(head: number, bytes: number, message: boolean): void {
    const words = this.words;
    Atomics.store(words, Ctl.head, (head + bytes) | 0);
    if (message && this.#counted) Atomics.sub(words, Ctl.count, 1);
    wakeIfFlagged(words, Ctl.writersWaiting, Ctl.head);
  }

  /**
   * A wait plan for a message: `attempt` (a tryRead, and whatever else the
   * caller checks) until TAIL moves past HEAD.
   */
  readPlan<T>(attempt: (slept: boolean) => T | typeof RETRY): WaitPlan<T> {
    return {
      attempt,
      watch: () => {
        const tail = Atomics.load(this.words, Ctl.tail);
        return tail !== Atomics.load(this.words, Ctl.head) ? RETRY : { words: this.words, index: Ctl.tail, expected: tail };
      },
      announce: (watched, bell) => this.#announce(Ctl.readersWaiting, watched, bell),
      rings: true,
      sliceMs: RING_SLICE_MS,
    };
  }

  /** A wait plan for room: `attempt` (a tryWrite) until a reader moves HEAD from where the failed write saw it. */
  writePlan<T>(attempt: (slept: boolean) => T | typeof RETRY): WaitPlan<T> {
    return {
      attempt,
      watch: () => {
        const head = Atomics.load(this.words, Ctl.head);
        return head !== this.#headWhenFull ? RETRY : { words: this.words, index: Ctl.head, expected: head };
      },
      announce: (watched, bell) => this.#announce(Ctl.writersWaiting, watched, bell),
      rings: true,
      sliceMs: RING_SLICE_MS,
    };
  }

  /** Wakes everyone sleeping on this ring (a peer closing). */
  wakeAll(): void {
    sys(() => native.notify(this.words, Ctl.tail, 2 ** 31 - 1, Atomics.exchange(this.words, Ctl.readersWaiting, 0)));
    sys(() => native.notify(this.words, Ctl.head, 2 ** 31 - 1, Atomics.exchange(this.words, Ctl.writersWaiting, 0)));
  }

  /**
   * Sets a waiting flag (to our doorbell id, or 1), then makes sure the word
   * did not move meanwhile (the waker moves it, then reads the flag).
   */
  #announce(flag: number, watched: WordSleep, bell: number): number | typeof RETRY {
    Atomics.store(this.words, flag, bell);
    return Atomics.load(this.words, watched.index) === watched.expected ? watched.expected : RETRY;
  }

  #copyIn(message: Encoded, start: number): void {
    if (message.text !== undefined) writeString(this.#bytes, message.text, start, message.byteLength, message.tag);
    else if (message.bytes !== undefined) this.#bytes.set(message.bytes, start);
  }

  #copyOut<T extends Uint8Array>(start: number, length: number, out: T): T {
    out.set(this.#bytes.subarray(start, start + length), 0);
    return out;
  }
}

/** Messages at least this large are copied out into memory mapped in advance (freshBuffer). */
const POPULATE_BYTES = 64 * 1024;

/**
 * A new Buffer for a received message. A large one has its pages mapped in
 * one system call before the copy: fresh memory otherwise takes a page fault
 * per 4 KiB as the copy first touches it, which on the VMs measured made a
 * plain 1 MiB recv cost 1-3 ms instead of 0.1 (docs/design.md, "Large
 * messages"). On pages already mapped (memory malloc reused) the call costs
 * about 10 us per MiB.
 */
function freshBuffer(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  if (length >= POPULATE_BYTES) native.populateBytes(bytes);
  return bytes;
}

/**
 * After moving `word`: if a sleeper flagged itself, clear the flag and wake
 * every sleeper on the word, ringing the flagged doorbell first.
 */
function wakeIfFlagged(words: Int32Array, flag: number, word: number): void {
  const flagged = Atomics.load(words, flag);
  if (flagged !== 0) {
    Atomics.store(words, flag, 0);
    native.notify(words, word, 2 ** 31 - 1, flagged);
  }
}

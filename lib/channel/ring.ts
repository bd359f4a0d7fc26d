// A byte ring in shared memory carrying framed messages, the core of Queue
// and Pipe. Layout (docs/format.md): 512 bytes of control words, then
// `capacity` bytes (a power of two). Positions are free-running u32 counters;
// a frame is [u32 length][u32 tag][payload, padded to 8 bytes]. A frame never
// wraps: one that would is preceded by a padding frame to the ring's end, so
// every payload is one contiguous range of shared memory (what views and
// reserved slots hand out).
//
// Commit order keeps crashes harmless: a writer copies the whole frame, then
// publishes it with one store to its header's tag word (then TAIL follows);
// a reader copies a frame out, then frees it with one store to HEAD. A
// process killed mid-copy has published nothing. Readers find frames by
// that tag word, not by TAIL: the header where the next frame will go is
// kept 0, so a reader waiting for a message watches the cache line the
// message arrives in, and TAIL's line need not cross for every message.
//
// A Queue's consumers take frames at CURSOR instead and may hold several as
// views at once, each entered in the ring's holder table with the holder's
// token; HEAD follows the oldest frame still held. A frame whose holder died
// is adopted by another consumer (Queue), so it is delivered again.
//
// The frames themselves are written and read in the addon (the protocol in
// native/channel/frame_ring.*, bound in ring.cc), one call per message: this class validates, decodes what is not a string,
// hands out views and slots, and says how to wait. The per-message path then
// has almost no JavaScript for V8 to compile while a request/reply pair runs,
// which on a 2-CPU machine was most of its cost (docs/design.md, "Rings in
// the addon").
//
// Waiting goes through the wait driver: a reader that finds the ring empty
// spins (adaptively), then sets READERS_WAITING and sleeps on TAIL; a writer
// that finds the flag set clears it and wakes TAIL's sleepers, so writes make
// no system call while no one sleeps (and the same for writers waiting for
// room: WRITERS_WAITING, HEAD). The flag is cleared by the waker, not the
// sleeper: a sleeper that leaves (timeout, abort, close, SIGKILL) costs at
// most one spurious wake instead of a wake per message for ever.
import { resolveDType } from '../core/dtypes.js';
import { ErrorCodes, fromNative, ShmError } from '../core/errors.js';
import { RingOut, RingSize, RingWord } from '../core/layout.js';
import { native, type RingHandle } from '../core/native.js';
import type { MappedSegment } from '../core/segment.js';
import { MAX_TOKEN } from '../core/typed-segment.js';
import { checkInteger, INT32_MAX } from '../core/validate.js';
import { RETRY, Spinner, type WaitPlan, type WordSleep } from '../sync/waiting.js';
import { decode, decodePlainAt, type Encoded, emptyEncoded, encode, Tag, type TypedArrayConstructor, typedArrayOf } from './codec.js';

/**
 * Int32 indexes of the control words, one cache line per group: what the
 * writer stores per message (tail), what the reader stores per message
 * (head), the fixed words, and the waiting flags, which are read per message
 * but written only by a waiter about to sleep. A word read on every message
 * must not share a line with one the other side writes on every message, or
 * each message moves that line between the cores once more. A Queue's ring
 * also has `cursor` (bytes ever taken by consumers; HEAD follows it, or the
 * oldest frame still held), `heldCount` and the holder table (entry i: a
 * held frame's position at word holderPosition + i, its holder's token at
 * holderToken + i, 0 if free), and `counted` 1: COUNT is kept and frames are
 * taken at CURSOR (a pipe's ring skips both, saving shared writes every
 * message). Defined in native/core/layout.h.
 */
export const Ctl = RingWord;

/** Entries in a Queue's holder table: views held at once across all its consumers. */
export const HOLDERS = RingSize.holders;

export const RING_CONTROL_BYTES = RingSize.controlBytes;
/** A channel segment's element type: its data are bytes (control words and rings). */
export const RING_DTYPE = resolveDType('uint8');
export const FRAME_HEADER = RingSize.frameHeader;
/** Longest sleep of a wait on a ring before it tries again (a pipe's receive looks for a dead peer then). */
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

/** The room a frame needs: itself, and the header after it, which stays 0 until the next frame is published. */
export function roomFor(payloadBytes: number): number {
  return frameSize(payloadBytes) + FRAME_HEADER;
}

export function ringBytes(capacity: number): number {
  return RING_CONTROL_BYTES + capacity;
}

/** A published frame: it starts at `position` (bytes ever published); its payload is ring bytes [start, start + length). */
export interface Frame {
  readonly position: number;
  readonly start: number;
  readonly length: number;
  readonly tag: number;
}

/**
 * Int32 indexes of what the addon's ring calls report beside their result
 * (native/channel/ring.cc): the frame a peek found, the tag of a message left for
 * a copy, HEAD as a writer that found no room saw it, how long a read's spin
 * took (us). Defined in native/core/layout.h.
 */
export const Out = RingOut;

/** A frame a Queue consumer holds as a view: `entry` is its holder-table entry. */
export interface HeldFrame extends Frame {
  readonly entry: number;
}

/** What Ring#hold returns when every holder-table entry is in use. */
export const NO_ENTRY = Symbol('no holder entry');

export class Ring {
  readonly words: Int32Array;
  readonly capacity: number;
  readonly #segment: MappedSegment;
  /** Byte offset of the ring's first data byte in the segment. */
  readonly #dataOffset: number;
  /** The ring's data bytes, where plain-data messages are decoded in place (#readPlain). */
  readonly #data: Buffer;
  /** Largest payload one message may have. */
  readonly maxPayload: number;
  /**
   * The addon's side of this ring: every frame is written and read there.
   * Public, with `out`, for the inline fast paths of Pipe#sendSync and
   * Pipe#recvSync, which call the addon with no function of this class in
   * between.
   */
  readonly handle: RingHandle;
  /** Read by the addon through a pointer it keeps: over an ArrayBuffer of its own, whose memory V8 never moves (a small typed array made on its own may live in the moving heap). */
  readonly out = new Int32Array(new ArrayBuffer(6 * 4));
  /** What encode() fills: a send allocates no object to describe its message. */
  readonly #encoded = emptyEncoded();
  /** Where frames are taken: HEAD (a Pipe's ring), or CURSOR (a Queue's). */
  readonly #readWord: number;
  /** Adaptive spinning of this handle's readers and writers of the ring. */
  readonly readSpinner = new Spinner();
  readonly writeSpinner = new Spinner();

  /**
   * The ring from `byteOffset` of `segment` to `end`, a Queue's (`queue`) or
   * a Pipe's. Its control words come from shared memory: anything
   * impossible is ERR_SHM_FORMAT (`what` names the channel), never a
   * RangeError. The words fixed at creation are read here only, once per
   * handle, so they must be the creator's exactly: a capacity that does not
   * fill the ring's bytes, or a Pipe's ring that counts its messages, would
   * make this handle read the ring differently from the others for as
   * long as it is open.
   */
  constructor(segment: MappedSegment, byteOffset: number, end: number, queue: boolean, what: string) {
    const buffer = segment.buffer;
    this.#segment = segment;
    this.#dataOffset = byteOffset + RING_CONTROL_BYTES;
    this.words = new Int32Array(buffer, byteOffset, RING_CONTROL_BYTES / 4);
    this.capacity = Atomics.load(this.words, Ctl.capacity);
    const counted = Atomics.load(this.words, Ctl.counted);
    const maxsize = Atomics.load(this.words, Ctl.maxsize);
    if (this.capacity < 64 || (this.capacity & (this.capacity - 1)) !== 0 || byteOffset + ringBytes(this.capacity) !== end) {
      throw new ShmError(ErrorCodes.FORMAT, `${what} has a corrupt ring: capacity ${this.capacity} does not fill its ${end - byteOffset} bytes`);
    }
    if (counted !== (queue ? 1 : 0) || maxsize < 0 || (!queue && maxsize !== 0)) {
      throw new ShmError(ErrorCodes.FORMAT, `${what} has a corrupt ring: impossible control words`);
    }
    this.maxPayload = this.capacity - 2 * FRAME_HEADER;
    this.#readWord = queue ? Ctl.cursor : Ctl.head;
    this.handle = native.ringOpen(segment.handle, byteOffset, this.out);
    this.#data = Buffer.from(buffer, this.#dataOffset, this.capacity);
    // Every byte of a ring is used within one pass: map its pages now, in one
    // system call, rather than fault them in one by one while messages flow.
    segment.populate(this.#dataOffset, this.capacity);
  }

  /** Writes a fresh ring's control words (by the segment's creator). */
  static init(buffer: ArrayBuffer, byteOffset: number, capacity: number, maxsize: number, queue: boolean): void {
    const words = new Int32Array(buffer, byteOffset, RING_CONTROL_BYTES / 4);
    words[Ctl.capacity] = capacity;
    words[Ctl.maxsize] = maxsize;
    words[Ctl.counted] = queue ? 1 : 0;
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

  /** True if a message is waiting to be taken. */
  hasData(): boolean {
    return this.#published(Atomics.load(this.words, Ctl.tail));
  }

  /**
   * True if TAIL `tail` is past where frames are taken. (A reader that took
   * a frame as its writer stored the tag word, before TAIL, is past TAIL
   * for that moment: nothing to take.) Unsigned, as the addon counts:
   * 0 < tail - read <= capacity, the 1 taken off before the wrap to u32.
   */
  #published(tail: number): boolean {
    return (tail - Atomics.load(this.words, this.#readWord) - 1) >>> 0 < this.capacity;
  }

  /** True if a message of `payloadBytes` cannot be written now. */
  isFull(payloadBytes = 0): boolean {
    const published = (Atomics.load(this.words, Ctl.tail) - Atomics.load(this.words, Ctl.head)) >>> 0;
    // HEAD ahead of TAIL: a reader took a frame between its writer's stores
    // of the tag word and of TAIL, so nothing is left in the ring.
    const used = published <= this.capacity ? published : 0;
    const maxsize = this.words[Ctl.maxsize];
    return this.capacity - used < roomFor(payloadBytes) || (maxsize > 0 && this.count >= maxsize);
  }

  /**
   * True if a string of this many UTF-16 units fits the ring whatever its
   * characters (3 UTF-8 bytes a unit at most): such a string can be sent
   * with tryWriteString, unencoded and unmeasured.
   */
  surelyFits(text: string): boolean {
    return text.length * 3 <= this.maxPayload;
  }

  /** Writes a string message (one that surelyFits) and publishes it; false if there is no room now. */
  tryWriteString(text: string): boolean {
    try {
      return native.ringWriteString(this.handle, text) > 0;
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Copies one message in and publishes it; false if there is no room now. */
  tryWrite(message: Encoded): boolean {
    let written: boolean;
    try {
      written =
        message.text !== undefined
          ? native.ringWriteString(this.handle, message.text) > 0
          : native.ringWriteBytes(this.handle, message.bytes as Uint8Array, message.tag);
    } catch (err) {
      throw fromNative(err);
    }
    if (written) {
      // An Encoded must not keep its message alive once sent (the ring's own one lives as long as the ring).
      message.bytes = undefined;
      message.text = undefined;
    }
    return written;
  }

  /**
   * Finds room for a frame of `payloadBytes` at the tail, contiguous (a
   * padding frame to the ring's end comes first when it would run past it).
   * Returns the frame's offset in the ring, or -1 if there is no room now (a
   * writer then waits for HEAD to move). Nothing is visible to readers until
   * publish().
   */
  tryReserve(payloadBytes: number): number {
    return native.ringReserve(this.handle, payloadBytes);
  }

  /** Publishes the frame reserved at `at` (its payload written): one store to TAIL. */
  publish(at: number, payloadBytes: number, tag: number): void {
    native.ringPublish(this.handle, at, payloadBytes, tag);
  }

  /**
   * Copies the oldest message out and frees its room; NO_MESSAGE if there is
   * none. Strings and typed arrays are made in the addon; other kinds are
   * decoded here (readLeft). (A first try spins: the addon's pipeRecv and queueGet.)
   */
  tryRead(): unknown {
    const read = native.ringRead(this.handle);
    if (typeof read === 'number') return this.readLeft(read);
    return read === undefined ? NO_MESSAGE : read;
  }

  /**
   * The message a read left in the ring, being neither a string nor a typed array
   * (its length, as native ringRead returned it, its frame in out): plain
   * data decoded where it lies, then freed; anything else copied into a new
   * Buffer, freed, decoded.
   */
  readLeft(length: number): unknown {
    const left = this.out[Out.tag];
    if (left === Tag.msgpack) return this.#readPlain(length);
    const T = typedArrayOf(left);
    if (T !== undefined && length % T.BYTES_PER_ELEMENT === 0) return this.#readTyped(T, length);
    const bytes = freshBuffer(length);
    native.ringReadInto(this.handle, bytes, false);
    const tag = this.out[Out.tag];
    try {
      return decode(tag, bytes);
    } catch (err) {
      // Already freed: a message that cannot be decoded must not block the ones behind it.
      throw new ShmError(ErrorCodes.FORMAT, `a ${bytes.byteLength}-byte message with tag ${tag} could not be decoded and was dropped`, { cause: err });
    }
  }

  /**
   * A small typed array (the addon leaves those to lib/) copied out of its
   * frame onto V8's heap, then freed: V8 makes a small typed array with
   * its own bytes for far less than the ArrayBuffer of its own the addon
   * would have to allocate.
   */
  #readTyped(T: TypedArrayConstructor, length: number): unknown {
    const start = this.out[Out.start];
    const copy = new T(this.#segment.buffer, this.#dataOffset + start, length / T.BYTES_PER_ELEMENT).slice();
    native.ringRelease(this.handle, this.out[Out.position] >>> 0, length);
    return copy;
  }

  /**
   * Plain data decoded from its frame in the ring, with no copy: MessagePack
   * decoding copies every string and number out, so nothing decoded refers
   * to the ring once the frame is freed.
   */
  #readPlain(length: number): unknown {
    const start = this.out[Out.start];
    const position = this.out[Out.position] >>> 0;
    let message: unknown;
    let failure: unknown;
    try {
      message = decodePlainAt(this.#data, start, start + length);
    } catch (err) {
      failure = err;
    }
    native.ringRelease(this.handle, position, length);
    if (failure !== undefined) {
      // Freed: a message that cannot be decoded must not block the ones behind it.
      throw new ShmError(ErrorCodes.FORMAT, `a ${length}-byte message with tag ${Tag.msgpack} could not be decoded and was dropped`, { cause: failure });
    }
    return message;
  }

  /**
   * Milliseconds the last read spent spinning, by the clock (preemption
   * included); 0 if it did not spin, negative if a first try made no read
   * (native/channel/ring.h RingNoRead).
   */
  get lastSpinMs(): number {
    // Times 0.001, not divided by 1000: while every read is 0 (no spin was
    // needed) V8 speculates an integer division, and deoptimizes its callers
    // at the first spin that took a fraction of a millisecond.
    return this.out[Out.spunUs] * 0.001;
  }

  /** Copies the oldest message, which must be bytes, into `target`; its length, or NO_MESSAGE. */
  tryReadInto(target: Uint8Array): number | typeof NO_MESSAGE {
    const length = native.ringReadInto(this.handle, target, true);
    return length < 0 ? NO_MESSAGE : length;
  }

  /** The oldest message's frame, left in the ring (release() frees it); undefined if there is none. A Pipe's view. */
  peek(): Frame | undefined {
    if (!native.ringPeek(this.handle)) return undefined;
    return this.#reported();
  }

  /**
   * Takes the oldest message's frame as a view held by `token` (a Queue's;
   * the caller holds the get lock): unhold() frees it. undefined if there is
   * none; NO_ENTRY if the holder table is full (the frame stays).
   */
  hold(token: number): HeldFrame | undefined | typeof NO_ENTRY {
    const entry = native.ringHold(this.handle, token);
    if (entry === -1) return undefined;
    if (entry === -2) return NO_ENTRY;
    return { ...this.#reported(), entry };
  }

  /** True if some consumer holds a frame as a view (a Queue's). */
  holdsViews(): boolean {
    return Atomics.load(this.words, Ctl.heldCount) !== 0;
  }

  /** Ends `token`'s hold of a frame; false if it had been dropped (a corrupt ring). */
  unhold(frame: HeldFrame, token: number): boolean {
    return native.ringUnhold(this.handle, frame.entry, token);
  }

  /**
   * A frame held by a consumer other than `token` that is dead by
   * `isAlive`, taken over for `token` (the caller holds the get lock): the
   * message it was reading, to be delivered again; undefined if there is
   * none.
   */
  adoptDead(token: number, isAlive: (token: number) => boolean): HeldFrame | undefined {
    for (let entry = 0; entry < HOLDERS; entry++) {
      const holder = Atomics.load(this.words, Ctl.holderToken + entry);
      // A token no handle can have (another program wrote it) is no one's: adopted, and dropped if its frame cannot be right.
      if (holder === 0 || holder === token || (holder > 0 && holder <= MAX_TOKEN && isAlive(holder))) continue;
      if (native.ringAdopt(this.handle, entry, holder, token)) return { ...this.#reported(), entry };
    }
    return undefined;
  }

  /** A held frame's message, copied out and decoded (unhold() still frees it). @throws {ShmError} ERR_SHM_FORMAT if it cannot be decoded. */
  decodeHeld(frame: HeldFrame): unknown {
    const bytes = freshBuffer(frame.length);
    bytes.set(new Uint8Array(this.#segment.buffer, this.#dataOffset + frame.start, frame.length));
    try {
      return decode(frame.tag, bytes);
    } catch (err) {
      throw new ShmError(ErrorCodes.FORMAT, `a ${bytes.byteLength}-byte message with tag ${frame.tag} could not be decoded and was dropped`, { cause: err });
    }
  }

  /** The frame the last peek, hold or adopt reported. */
  #reported(): Frame {
    const out = this.out;
    return { position: out[Out.position] >>> 0, start: out[Out.start], length: out[Out.length], tag: out[Out.tag] >>> 0 };
  }

  /** A detachable view of ring bytes [start, start + length): a frame's payload, or a reserved one. */
  viewOf(start: number, length: number): Uint8Array {
    return new Uint8Array(this.#segment.view(this.#dataOffset + start, length));
  }

  /** Frees a frame that has been read: one store to HEAD, then a wake if a writer waits. */
  release(frame: Frame): void {
    native.ringRelease(this.handle, frame.position, frame.length);
  }

  /**
   * A wait plan for a message: `attempt` (a tryRead, and whatever else the
   * caller checks) until TAIL moves past where frames are taken.
   */
  readPlan<T>(attempt: (slept: boolean) => T | typeof RETRY): WaitPlan<T> {
    return {
      attempt,
      watch: () => {
        const tail = Atomics.load(this.words, Ctl.tail);
        return this.#published(tail) ? RETRY : { words: this.words, index: Ctl.tail, expected: tail };
      },
      announce: (watched, bell) => this.#announce(Ctl.readersWaiting, watched, bell),
      wakersRingDoorbell: true,
      sliceMs: RING_SLICE_MS,
    };
  }

  /**
   * A wait plan for room: `attempt` (a tryWrite) until a reader moves HEAD
   * from where the failed write saw it, or at least every `sliceMs`.
   */
  writePlan<T>(attempt: (slept: boolean) => T | typeof RETRY, sliceMs = RING_SLICE_MS): WaitPlan<T> {
    return {
      attempt,
      watch: () => {
        const head = Atomics.load(this.words, Ctl.head);
        return head !== this.out[Out.headWhenFull] ? RETRY : { words: this.words, index: Ctl.head, expected: head };
      },
      announce: (watched, bell) => this.#announce(Ctl.writersWaiting, watched, bell),
      wakersRingDoorbell: true,
      sliceMs,
    };
  }

  /** Wakes everyone sleeping on this ring (a peer closing). */
  wakeAll(): void {
    native.notify(this.words, Ctl.tail, INT32_MAX, Atomics.exchange(this.words, Ctl.readersWaiting, 0));
    native.notify(this.words, Ctl.head, INT32_MAX, Atomics.exchange(this.words, Ctl.writersWaiting, 0));
  }

  /**
   * Sets a waiting flag (to our doorbell id, or 1), then makes sure the word
   * did not move meanwhile (the waker moves it, then reads the flag).
   */
  #announce(flag: number, watched: WordSleep, bell: number): number | typeof RETRY {
    Atomics.store(this.words, flag, bell);
    return Atomics.load(this.words, watched.index) === watched.expected ? watched.expected : RETRY;
  }
}

/** Messages at least this large are copied out into memory mapped in advance (freshBuffer). */
const POPULATE_BYTES = 64 * 1024;

/**
 * A new Buffer for a received message. A large one has its pages mapped in
 * one system call before the copy: fresh memory otherwise takes a page fault
 * per 4 KiB as the copy first touches it (docs/design.md, "Large messages",
 * has the figures). On pages already mapped (memory malloc reused) the call
 * costs little.
 */
function freshBuffer(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  if (length >= POPULATE_BYTES) native.populateBytes(bytes);
  return bytes;
}

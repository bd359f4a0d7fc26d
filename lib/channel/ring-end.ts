// What a Queue handle and a Pipe end do alike with the ring they write
// (RingWriter) and the ring they read (RingReader): encoding for the ring,
// the turns their async calls wait in, the one slot or view the handle
// handed out last, and the wait plans. A Queue has one of each on its one
// ring, each behind its put or get lock; a Pipe end writes one ring and
// reads the other, checking that its peer is still there.
import type { ShmError } from '../core/errors.js';
import { checkInteger } from '../core/validate.js';
import { type ParsedWait, RETRY, type TimedOut, type WaitPlan } from '../sync/waiting.js';
import { type Encoded, keepEncoded, Tag } from './codec.js';
import { FRAME_HEADER, type Frame, RING_SLICE_MS, type Ring, ringCapacity } from './ring.js';
import { Turns } from './turns.js';
import { MessageView, Slot } from './zero-copy.js';

/** The tag a message goes to the addon's first try with when it is to be written as it is (native/channel/ring.h RingWriteNow). */
const AS_IT_IS = -1;
const DEFAULT_CAPACITY = 1 << 20;
const MAX_CAPACITY = 2 ** 30;

/** The `capacity` option of a Queue or Pipe, checked and rounded up to a ring's size (default 1 MiB). */
export function capacityOption(capacity: unknown): number {
  return ringCapacity(capacity === undefined ? DEFAULT_CAPACITY : checkInteger(capacity, 'options.capacity', 1, MAX_CAPACITY));
}

/** The handle a ring end belongs to, as errors name it. */
export interface RingOwner {
  readonly name: string;
  readonly closed: boolean;
  closedError(): ShmError;
}

export interface WriterOptions {
  /**
   * Throws if no reader will ever take what is written (a Pipe end's peer
   * closed or died); `fresh`: a write that slept asks now.
   */
  checkReader?: (fresh: boolean) => void;
  /** Longest sleep of a write waiting for room before it tries again (and checks the reader). */
  sliceMs?: number;
}

/** The writing side of a ring, as one handle uses it. */
export class RingWriter {
  /** This handle's async writes and reserves that wait, in call order. */
  readonly turns = new Turns();
  readonly ring: Ring;
  readonly #owner: RingOwner;
  readonly #kind: string;
  readonly #checkReader: (fresh: boolean) => void;
  readonly #sliceMs: number;
  /** The slot this handle reserved last, until committed or abandoned. */
  #slot: Slot | undefined;

  constructor(ring: Ring, owner: RingOwner, kind: 'queue' | 'pipe', options: WriterOptions = {}) {
    this.ring = ring;
    this.#owner = owner;
    this.#kind = kind;
    this.#checkReader = options.checkReader ?? (() => {});
    this.#sliceMs = options.sliceMs ?? RING_SLICE_MS;
  }

  /** True while a slot this handle reserved is neither committed nor abandoned. */
  get holdsSlot(): boolean {
    return this.#slot !== undefined;
  }

  /** True if a write may go at once: no slot held, no async write of this handle waiting for its turn. */
  get idle(): boolean {
    return this.#slot === undefined && this.turns.idle;
  }

  /** Abandons the slot reserved last, if any: the next write or reserve does. */
  abandonSlot(): void {
    this.#slot?.abandon();
  }

  /** @throws {ShmError} ERR_SHM_CLOSED if the handle is closed; ERR_SHM_MESSAGE_TOO_LARGE if it could never fit. */
  encode(message: unknown): Encoded {
    checkOpen(this.#owner);
    return this.ring.encode(message, this.#kind, this.#owner.name);
  }

  /** A `reserve(byteLength)` argument checked. @throws as `encode`, and ERR_SHM_INVALID_ARG. */
  reservable(byteLength: unknown): number {
    checkOpen(this.#owner);
    return this.ring.reservable(byteLength, this.#kind, this.#owner.name);
  }

  /**
   * A write's one first try: `write`, the addon's (a Queue's put lock or a
   * Pipe's peer check included), given a string, Buffer or typed array as
   * it is (tag AS_IT_IS), and anything else encoded here first. undefined once written;
   * else the message encoded, for the wait that goes on (there was no
   * room, or the lock was taken, or the peer is gone, or the addon does not
   * write that kind as it is: the wait finds out which).
   * @throws as `encode`.
   */
  writeNow(message: unknown, write: (message: unknown, tag: number) => boolean): Encoded | undefined {
    const tag = asIsTag(message);
    if (tag !== undefined && write(message, tag)) return undefined;
    const encoded = this.encode(message);
    if (encoded.bytes === undefined || !write(encoded.bytes, encoded.tag)) return encoded;
    encoded.bytes = undefined; // as Ring#tryWrite: nothing keeps the message alive once written
    return undefined;
  }

  /**
   * A write's start: its one first try (writeNow), unless an async write of
   * this handle waits before it (`async`; a blocking one goes first: it
   * cannot wait for those). undefined once written; else the plan of the
   * wait that goes on, made now: it keeps its own copy of the encoded
   * message, so an async write makes it before its first await.
   */
  start(message: unknown, write: (message: unknown, tag: number) => boolean, async: boolean): WaitPlan<true> | undefined {
    let encoded: Encoded | undefined;
    if (!async || this.turns.idle) {
      this.abandonSlot();
      encoded = this.writeNow(message, write);
      if (encoded === undefined) return undefined;
    }
    return this.writePlan(encoded ?? this.encode(message));
  }

  /** Waits for room for `encoded`, a copy of which it keeps (the ring's own one is refilled by the next encode). */
  writePlan(encoded: Encoded): WaitPlan<true> {
    const kept = keepEncoded(encoded);
    return this.ring.writePlan((slept) => {
      if (this.ring.tryWrite(kept)) return true;
      this.#checkReader(slept);
      return RETRY;
    }, this.#sliceMs);
  }

  /** Waits for room for a frame of `length` bytes: its offset, reserved. */
  reservePlan(length: number): WaitPlan<number> {
    return this.ring.writePlan((slept) => {
      const at = this.ring.tryReserve(length);
      if (at >= 0) return at;
      this.#checkReader(slept);
      return RETRY;
    }, this.#sliceMs);
  }

  /**
   * The slot of the frame reserved at `at`: committing it publishes the
   * message (received as a Buffer); a commit or an abandon then runs `finished`.
   */
  slotAt(at: number, length: number, finished: () => void = () => {}): Slot {
    const slot = new Slot(
      this.ring.viewOf(at + FRAME_HEADER, length),
      (byteLength) => {
        checkOpen(this.#owner);
        this.#checkReader(false);
        this.ring.publish(at, byteLength, Tag.buffer);
      },
      () => {
        if (this.#slot === slot) this.#slot = undefined;
        finished();
      },
    );
    this.#slot = slot;
    return slot;
  }

  /**
   * An async write or reserve, in this handle's call order (at once if none
   * waits). At its turn it abandons the slot reserved before it, which may
   * have been handed out after this call.
   */
  inTurn<R>(wait: ParsedWait, operation: () => Promise<R | TimedOut>): Promise<R | TimedOut> {
    return this.turns.run(wait, () => {
      this.abandonSlot();
      return operation();
    });
  }
}

/** The reading side of a ring, as one handle uses it. */
export class RingReader {
  /** This handle's async reads that wait, in call order. */
  readonly turns = new Turns();
  readonly ring: Ring;
  /** The view this handle handed out last, until released. */
  #view: MessageView | undefined;

  constructor(ring: Ring) {
    this.ring = ring;
  }

  /** True while a view this handle handed out is not released. */
  get holdsView(): boolean {
    return this.#view !== undefined;
  }

  /** True if a read may go at once: no view held, no async read of this handle waiting for its turn. */
  get idle(): boolean {
    return this.#view === undefined && this.turns.idle;
  }

  /** Releases the view handed out last, if any: the next read does. */
  releaseView(): void {
    this.#view?.release();
  }

  /** A view of `frame`'s payload; releasing it runs `free`, which frees the frame. */
  viewOf(frame: Frame, free: () => void): MessageView {
    const view = new MessageView(this.ring.viewOf(frame.start, frame.length), () => {
      if (this.#view === view) this.#view = undefined;
      free();
    });
    this.#view = view;
    return view;
  }

  /** An async read, in this handle's call order; at its turn it releases the view handed out before it. */
  inTurn<R>(wait: ParsedWait, operation: () => Promise<R | TimedOut>): Promise<R | TimedOut> {
    return this.turns.run(wait, () => {
      this.releaseView();
      return operation();
    });
  }

  /**
   * When the first try that found nothing started spinning, for the wait
   * that goes on, which then asks the spinner nothing more; undefined if
   * the first try made no read (another consumer held the get lock).
   */
  spunSince(): number | undefined {
    const spun = this.ring.lastSpinMs;
    return spun < 0 ? undefined : performance.now() - spun;
  }
}

/**
 * The tag a message goes to the addon's first try with if the addon writes
 * it as it is: AS_IT_IS for a string or typed array, and a Buffer's own tag,
 * told here (the addon takes three calls to tell a Buffer from a
 * Uint8Array); undefined for anything else, which lib/ encodes first.
 */
export function asIsTag(message: unknown): number | undefined {
  if (typeof message === 'string') return AS_IT_IS;
  if (!ArrayBuffer.isView(message)) return undefined;
  return Buffer.isBuffer(message) ? Tag.buffer : AS_IT_IS;
}

function checkOpen(owner: RingOwner): void {
  if (owner.closed) throw owner.closedError();
}

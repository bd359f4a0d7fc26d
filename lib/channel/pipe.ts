import { ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { SegmentHandle } from '../core/handle.js';
import { PipeWord } from '../core/layout.js';
import { openOrCreate, settle, shapeMismatch } from '../core/lifetime.js';
import { native, type PipeEndHandle } from '../core/native.js';
import { createArgs, type LifetimeOptions, type OpenOptions, openArgs, openTimeout } from '../core/options.js';
import { type HandleDescription, TRANSFER } from '../core/transfer.js';
import { closedOnError, createTyped, openTyped, type TypedSegment } from '../core/typed-segment.js';
import { checkObject } from '../core/validate.js';
import {
  hasAsyncDoorbell,
  type ParsedWait,
  parseWaitOptions,
  RETRY,
  TIMED_OUT,
  type WaitOptions,
  type WaitPlan,
  waitAsync,
  waitSync,
} from '../sync/waiting.js';
import { type Frame, NO_MESSAGE, RING_DTYPE, Ring, ringBytes } from './ring.js';
import { asIsTag, capacityOption, RingReader, RingWriter } from './ring-end.js';
import type { MessageView, Slot } from './zero-copy.js';

/**
 * Longest sleep of a send or reserve waiting for room, after which it asks
 * the kernel whether the peer lives: a death is then noticed within the
 * 5 ms that sends promise (README), the wake-up included. A dead peer
 * frees no room and rings no doorbell, so only this sleep's end can tell.
 */
const SEND_SLICE_MS = 4;

// Pipe control words (int32, at the start of the data), then the two rings:
// ring 0 carries end 0 -> end 1, ring 1 carries end 1 -> end 0.
const CONTROL_BYTES = PipeWord.controlBytes;
const END_TOKEN = [PipeWord.endToken, PipeWord.endToken + 1];
const END_CLOSED = [PipeWord.endClosed, PipeWord.endClosed + 1];

/** Options of `Pipe.create` (and, with `timeout`, of `Pipe.openOrCreate`). */
export interface PipeCreateOptions extends LifetimeOptions {
  /**
   * Bytes of each direction's ring (rounded up to a power of two; default 1 MiB). Each message takes 8 bytes plus its
   * payload padded to 8; the largest message is `capacity - 16` bytes.
   */
  capacity?: number;
  /** Permission bits of the new segment, applied exactly. Default `0o600`. */
  mode?: number;
}

/**
 * A duplex connection between two processes, by name (Python's `Pipe`, for
 * unrelated processes): `Pipe.create(name)` is one end, `Pipe.open(name)` the
 * other. Each direction is a ring in shared memory. When one end closes or its
 * process dies, the other end reads what was already sent, then gets
 * end-of-stream (`ERR_SHM_PIPE_CLOSED`) instead of waiting for ever.
 */
export class Pipe<T = unknown> extends SegmentHandle implements AsyncIterable<T> {
  readonly #control: Int32Array;
  readonly #end: 0 | 1;
  readonly #out: Ring;
  readonly #in: Ring;
  /** The addon's side of this end: a send's and a receive's first try and a poll, one call each (with the peer check). */
  readonly #native: PipeEndHandle;
  /** Sends and reserves: their turns, and the slot handed out last. */
  readonly #writer: RingWriter;
  /** Receives: their turns, and the view handed out last (the next receive releases it). */
  readonly #reader: RingReader;
  /** Waits for the next message, or end-of-stream (which attempt() throws). */
  readonly #recvPlan: WaitPlan<T>;
  /** Waits until recv would not wait. */
  readonly #pollPlan: WaitPlan<true>;
  /** Waits for the next message's frame, left in the ring (recvView). */
  readonly #viewPlan: WaitPlan<Frame>;

  private constructor(typed: TypedSegment, end: 0 | 1) {
    super(typed);
    this.#end = end;
    const base = typed.data.byteOffset;
    this.#control = new Int32Array(typed.segment.buffer, base, CONTROL_BYTES / 4);
    // The two rings share the bytes after the control words equally.
    const middle = base + CONTROL_BYTES + (typed.data.byteLength - CONTROL_BYTES) / 2;
    const what = `pipe ${JSON.stringify(typed.segment.name)}`;
    const first = new Ring(typed.segment, base + CONTROL_BYTES, middle, false, what);
    const second = new Ring(typed.segment, middle, base + typed.data.byteLength, false, what);
    [this.#out, this.#in] = end === 0 ? [first, second] : [second, first];
    this.#native = native.pipeEndOpen(
      typed.segment.handle,
      base,
      this.#out.handle,
      this.#in.handle,
      this.#in.readSpinner.state,
      end,
      typed.liveness,
      typed.name,
    );
    this.#writer = new RingWriter(this.#out, this, 'pipe', { checkReader: (fresh) => this.#checkPeerForSend(fresh), sliceMs: SEND_SLICE_MS });
    this.#reader = new RingReader(this.#in);
    this.#recvPlan = this.#in.readPlan(() => {
      // As the type this pipe was declared to carry (the caller's promise: nothing checks it).
      const message = this.#in.tryRead() as T | typeof NO_MESSAGE;
      if (message !== NO_MESSAGE) return message;
      this.#checkPeerForRecv();
      return RETRY;
    });
    this.#pollPlan = this.#in.readPlan(() => (this.#in.hasData() || this.#peerGone() ? true : RETRY));
    this.#viewPlan = this.#in.readPlan(() => {
      const frame = this.#in.peek();
      if (frame !== undefined) return frame;
      this.#checkPeerForRecv();
      return RETRY;
    });
  }

  /** @internal */
  protected static override readonly kindCode = Kind.pipe;

  /** @internal Which end (the creator's or the opener's) and each direction's ring bytes. */
  protected override inspectState(): Record<string, unknown> {
    return { end: this.#end === 0 ? 'create' : 'open', capacity: this.#out.capacity };
  }

  /** Creates the pipe `name` and returns its first end (`EEXIST` if the name exists). */
  static create<T = unknown>(name: string, options?: PipeCreateOptions): Pipe<T> {
    const args = pipeArgs(name, options);
    return settle(Pipe.#create<T>(args.name, args.capacity, args.mode), args.lifetime);
  }

  /**
   * The first end of the pipe `name` if it does not exist (creating it),
   * else its other end (as `open`): of two processes that both call it, one
   * gets each end. An existing pipe must have the `capacity` given (left
   * out: not compared).
   * @throws {ShmError} ERR_SHM_PIPE_BUSY if both ends are open; ERR_SHM_FORMAT if `name` is another kind of object, or a pipe of another capacity
   */
  static openOrCreate<T = unknown>(name: string, options?: PipeCreateOptions & OpenOptions): Pipe<T> {
    const args = pipeArgs(name, options);
    const timeout = openTimeout(options);
    const pipe = openOrCreate(
      () => Pipe.#open<T>(args.name, timeout),
      () => Pipe.#create<T>(args.name, args.capacity, args.mode),
      (existing) => {
        const capacity = existing.#out.capacity;
        if (args.capacityGiven && capacity !== args.capacity) {
          throw shapeMismatch('Pipe', args.name, `a capacity of ${capacity} bytes`, `a capacity of ${args.capacity} bytes`);
        }
      },
    );
    return settle(pipe, args.lifetime);
  }

  static #create<T>(name: string, capacity: number, mode: number): Pipe<T> {
    const typed = createTyped(name, Kind.pipe, RING_DTYPE, CONTROL_BYTES + 2 * ringBytes(capacity), mode, (data) => {
      Ring.init(data.buffer as ArrayBuffer, data.byteOffset + CONTROL_BYTES, capacity, 0, false);
      Ring.init(data.buffer as ArrayBuffer, data.byteOffset + CONTROL_BYTES + ringBytes(capacity), capacity, 0, false);
    });
    // Published after `ready`: until then no one can open the other end anyway.
    Atomics.store(new Int32Array(typed.segment.buffer, typed.data.byteOffset, 1), END_TOKEN[0], typed.token);
    return new Pipe(typed, 0);
  }

  /**
   * Opens the other end of the pipe `name`.
   * @throws {ShmError} ERR_SHM_PIPE_BUSY if that end is already open in a live process.
   */
  static open<T = unknown>(name: string, options?: OpenOptions): Pipe<T> {
    const args = openArgs(name, options);
    return Pipe.#open<T>(args.name, args.timeout);
  }

  /** @internal Opens end `end` of the pipe `name` (a Pipe passed to another process arrives as the end its sender does not hold). */
  static openEnd<T = unknown>(name: string, end: 0 | 1): Pipe<T> {
    const args = openArgs(name, undefined);
    return Pipe.#open<T>(args.name, args.timeout, end);
  }

  /** @internal Crosses to another process as the end this handle is not (lib/core/transfer.ts). */
  override [TRANSFER](): HandleDescription {
    return { ...super[TRANSFER](), end: this.#end === 0 ? 1 : 0 };
  }

  static #open<T>(name: string, timeout: number, end: 0 | 1 = 1): Pipe<T> {
    const typed = openTyped(name, Kind.pipe, timeout);
    const pipe = closedOnError(typed, () => new Pipe<T>(typed, end));
    const control = new Int32Array(typed.segment.buffer, typed.data.byteOffset, CONTROL_BYTES / 4);
    for (;;) {
      const current = Atomics.load(control, END_TOKEN[end]);
      const free = current === 0 || Atomics.load(control, END_CLOSED[end]) === 1 || !typed.isAlive(current);
      if (!free) {
        typed.close();
        throw new ShmError(
          ErrorCodes.PIPE_BUSY,
          `pipe ${JSON.stringify(name)} already has both ends open${end === 0 ? " (a Pipe passed to another process arrives as the other end of the one passed: here its creator's end, which is open)" : ''}`,
        );
      }
      if (Atomics.compareExchange(control, END_TOKEN[end], current, typed.token) === current) break;
    }
    Atomics.store(control, END_CLOSED[end], 0);
    return pipe;
  }

  /**
   * Sends a message (bytes, typed array, string or structured-cloneable
   * value), waiting for room without blocking the event loop.
   * @throws {ShmError} ERR_SHM_PIPE_CLOSED if the other end has closed (at
   *   once) or its process died (noticed within 5 ms: what is sent in
   *   those 5 ms may be lost), ERR_SHM_TIMEOUT, ERR_SHM_CLOSED if this end is closed meanwhile; AbortError.
   */
  async send(message: T, options?: WaitOptions): Promise<void> {
    // The common case inline: no options, no slot, no send waiting before
    // it, and a message the addon writes as it is: one call to the addon,
    // the peer check included. Each JS function on the per-message path is
    // one more job for the optimizing compiler, which on a small machine
    // stalls a request/reply pair while it runs (docs/design.md, "Rings in
    // the addon").
    const tag = options === undefined && this.#writer.idle ? asIsTag(message) : undefined;
    if (tag !== undefined && native.pipeSend(this.#native, message, tag)) return;
    const wait = parseWaitOptions(options);
    const plan = this.#writer.start(message, this.#sendNow, true);
    if (plan === undefined) return;
    this.#checkPeerForSend();
    if ((await this.#writer.inTurn(wait, () => waitAsync(this, plan, wait, this.#out.writeSpinner))) === TIMED_OUT) throw timeout('send');
  }

  /** `send` blocking this thread. */
  sendSync(message: T, options?: WaitOptions): void {
    const tag = options === undefined && !this.#writer.holdsSlot ? asIsTag(message) : undefined; // as in send
    if (tag !== undefined && native.pipeSend(this.#native, message, tag)) return;
    const wait = parseWaitOptions(options);
    const plan = this.#writer.start(message, this.#sendNow, false);
    if (plan === undefined) return;
    this.#checkPeerForSend();
    if (waitSync(this, plan, wait, this.#out.writeSpinner) === TIMED_OUT) throw timeout('send');
  }

  /**
   * Receives the next message, waiting without blocking the event loop.
   * @throws {ShmError} ERR_SHM_PIPE_CLOSED (end of stream) once the other end
   *   has closed and everything it sent was read; ERR_SHM_TIMEOUT;
   *   ERR_SHM_CLOSED if this end is closed meanwhile; AbortError.
   */
  async recv(options?: WaitOptions): Promise<T> {
    // The common case inline, as in send: no options, no view held, no
    // receive waiting before it. The first try, with the spin the read
    // spinner allows an async wait, is one call to the addon; a wait that
    // must go on sleeps at once.
    if (options === undefined && this.#reader.idle) {
      const message = this.#received(native.pipeRecv(this.#native, Infinity, hasAsyncDoorbell()));
      return message !== NO_MESSAGE ? message : this.#recvLater(parseWaitOptions(undefined), this.#reader.spunSince());
    }
    const wait = parseWaitOptions(options);
    let spunSince: number | undefined;
    if (this.#reader.turns.idle) {
      this.#reader.releaseView();
      const message = this.#recvNow(hasAsyncDoorbell(), wait);
      if (message !== NO_MESSAGE) return message;
      spunSince = this.#reader.spunSince();
    }
    return this.#recvLater(wait, spunSince);
  }

  /** `recv` blocking this thread. */
  recvSync(options?: WaitOptions): T {
    if (options === undefined && !this.#reader.holdsView) {
      const message = this.#received(native.pipeRecv(this.#native)); // as in recv
      return message !== NO_MESSAGE ? message : this.#recvLaterSync(parseWaitOptions(undefined));
    }
    const wait = parseWaitOptions(options);
    this.#reader.releaseView();
    const message = this.#recvNow(undefined, wait);
    return message !== NO_MESSAGE ? message : this.#recvLaterSync(wait);
  }

  /** A receive whose first try found nothing (or was not made): it waits in this end's turns. */
  async #recvLater(wait: ParsedWait, spunSince: number | undefined): Promise<T> {
    const received = await this.#reader.inTurn(wait, () => waitAsync(this, this.#recvPlan, wait, this.#in.readSpinner, spunSince));
    if (received === TIMED_OUT) throw timeout('recv');
    return received;
  }

  /** `#recvLater` blocking this thread, after a first try that found nothing (or this end is closed: the wait throws that). */
  #recvLaterSync(wait: ParsedWait): T {
    const received = waitSync(this, this.#recvPlan, wait, this.#in.readSpinner, this.#reader.spunSince());
    if (received === TIMED_OUT) throw timeout('recv');
    return received;
  }

  /**
   * Receives the next message, which must be bytes (a Buffer, typed array,
   * DataView or ArrayBuffer), by copying them into `target` instead of a new
   * Buffer (Python's `recv_bytes_into`): no allocation, no page faults.
   * Blocks this thread like `recvSync`.
   * @returns the number of bytes written into `target`.
   * @throws {ShmError} ERR_SHM_INVALID_SIZE if the message is larger than
   *   `target` (it stays in the pipe), ERR_SHM_INVALID_ARG if it is not bytes.
   */
  recvBytesIntoSync(target: ArrayBufferView, options?: WaitOptions): number {
    this.checkOpen();
    if (!ArrayBuffer.isView(target)) throw invalidArg('target must be a Buffer, TypedArray or DataView');
    const wait = parseWaitOptions(options);
    this.#reader.releaseView();
    const into = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    const length = this.#in.tryReadInto(into);
    if (length !== NO_MESSAGE) return length;
    const plan = this.#in.readPlan(() => {
      const read = this.#in.tryReadInto(into);
      if (read !== NO_MESSAGE) return read;
      this.#checkPeerForRecv();
      return RETRY;
    });
    const received = waitSync(this, plan, wait, this.#in.readSpinner);
    if (received === TIMED_OUT) throw timeout('recv');
    return received;
  }

  /**
   * Receives the next message without copying it: the view's `bytes` are the
   * message's bytes in shared memory (whatever was sent: a Buffer's or typed
   * array's bytes, a string's UTF-8, v8.serialize data), until
   * `view.release()` frees its room and detaches them. The next receive on
   * this end releases it too: hold one view at a time. Waits like `recv`.
   * @throws like `recv`.
   */
  async recvView(options?: WaitOptions): Promise<MessageView> {
    this.checkOpen();
    const wait = parseWaitOptions(options);
    const reader = this.#reader;
    let frame: Frame | typeof TIMED_OUT | undefined;
    if (reader.turns.idle) {
      reader.releaseView();
      frame = this.#in.peek();
    }
    frame ??= await reader.inTurn(wait, () => waitAsync(this, this.#viewPlan, wait, this.#in.readSpinner));
    if (frame === TIMED_OUT) throw timeout('recv');
    return this.#viewOf(frame);
  }

  /** `recvView` blocking this thread. */
  recvViewSync(options?: WaitOptions): MessageView {
    this.checkOpen();
    const wait = parseWaitOptions(options);
    this.#reader.releaseView();
    const frame = this.#in.peek() ?? waitSync(this, this.#viewPlan, wait, this.#in.readSpinner);
    if (frame === TIMED_OUT) throw timeout('recv');
    return this.#viewOf(frame);
  }

  /**
   * Reserves room for a message of `byteLength` bytes, waiting for it
   * without blocking the event loop: write the message into `slot.bytes`
   * (shared memory), then `slot.commit()` sends it (received as a Buffer).
   * An uncommitted slot sends nothing; the next send or reserve on this end
   * abandons it.
   * @throws {ShmError} ERR_SHM_MESSAGE_TOO_LARGE if it could never fit; else like `send`.
   */
  async reserve(byteLength: number, options?: WaitOptions): Promise<Slot> {
    const writer = this.#writer;
    const length = writer.reservable(byteLength);
    const wait = parseWaitOptions(options);
    this.#checkPeerForSend();
    let at: number | typeof TIMED_OUT = -1;
    if (writer.turns.idle) {
      writer.abandonSlot();
      at = this.#out.tryReserve(length);
    }
    if (at < 0) at = await writer.inTurn(wait, () => waitAsync(this, writer.reservePlan(length), wait, this.#out.writeSpinner));
    if (at === TIMED_OUT) throw timeout('reserve');
    return writer.slotAt(at, length);
  }

  /** `reserve` blocking this thread. */
  reserveSync(byteLength: number, options?: WaitOptions): Slot {
    const writer = this.#writer;
    const length = writer.reservable(byteLength);
    const wait = parseWaitOptions(options);
    writer.abandonSlot();
    this.#checkPeerForSend();
    let at: number | typeof TIMED_OUT = this.#out.tryReserve(length);
    if (at < 0) at = waitSync(this, writer.reservePlan(length), wait, this.#out.writeSpinner);
    if (at === TIMED_OUT) throw timeout('reserve');
    return writer.slotAt(at, length);
  }

  /**
   * Resolves true when a message can be received now, or end-of-stream has
   * come (so `recv` will not wait); false after `timeout` ms (default 0: only looks).
   */
  async poll(options?: WaitOptions): Promise<boolean> {
    this.checkOpen();
    const opts = checkObject<WaitOptions>(options, 'options');
    const wait = parseWaitOptions({ timeout: 0, ...opts });
    const ready = await waitAsync(this, this.#pollPlan, wait, this.#in.readSpinner);
    return ready !== TIMED_OUT;
  }

  /**
   * True if a message can be received now, or end-of-stream has come. Never
   * waits: a reader that must answer fastest can spin on it.
   */
  pollSync(): boolean {
    const ready = native.pipePoll(this.#native);
    if (ready >= 0) return ready === 1;
    this.checkOpen();
    return this.#in.hasData() || this.#peerGone();
  }

  /** Yields messages until the other end closes, or this end is closed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      try {
        yield await this.recv();
      } catch (err) {
        if (err instanceof ShmError && (err.code === ErrorCodes.PIPE_CLOSED || (err.code === ErrorCodes.CLOSED && this.closed))) return;
        throw err;
      }
    }
  }

  /** Closes this end; the other end reads what was sent, then end-of-stream. Idempotent. */
  override close(): void {
    if (this.typed.closed) return;
    this.#reader.releaseView();
    this.#writer.abandonSlot();
    Atomics.store(this.#control, END_CLOSED[this.#end], 1);
    this.#out.wakeAll();
    this.#in.wakeAll();
    super.close();
  }

  /**
   * The other end closed, or its process died (an end not yet opened is not
   * gone). A close is one load; death costs a system call,
   * so the addon asks it at most every 5 ms: a reader spinning on
   * pollSync() stays fast, and a dead peer is still noticed within ms.
   * `fresh` asks now: a send that slept, which asks once per SEND_SLICE_MS.
   */
  #peerGone(fresh = false): boolean {
    return native.pipePeerGone(this.#native, fresh);
  }

  /** The addon's send (native/channel/pipe_end.cc), the peer check included: RingWriter#writeNow's `write`. */
  readonly #sendNow = (message: unknown, tag: number): boolean => native.pipeSend(this.#native, message, tag);

  /**
   * A receive's first try in the addon (native/channel/pipe_end.cc), with
   * the spin the read spinner allows within `wait`'s deadline: a blocking
   * receive's without `doorbell`, an async one's with it.
   */
  #recvNow(doorbell: boolean | undefined, wait: ParsedWait): T | typeof NO_MESSAGE {
    const maxSpinMs = wait.deadline.remaining();
    return this.#received(doorbell === undefined ? native.pipeRecv(this.#native, maxSpinMs) : native.pipeRecv(this.#native, maxSpinMs, doorbell));
  }

  /** What the addon's first try read: NO_MESSAGE if nothing came (the wait that goes on says why); a message that is not a string or typed array is decoded here. */
  #received(read: unknown): T | typeof NO_MESSAGE {
    if (typeof read === 'number') return this.#in.readLeft(read) as T;
    return read === undefined ? NO_MESSAGE : (read as T);
  }

  #viewOf(frame: Frame): MessageView {
    return this.#reader.viewOf(frame, () => {
      if (!this.closed) this.#in.release(frame);
    });
  }

  #checkPeerForRecv(): void {
    if (!this.#in.hasData() && this.#peerGone()) {
      throw new ShmError(ErrorCodes.PIPE_CLOSED, `end of stream: the other end of pipe ${JSON.stringify(this.name)} closed`);
    }
  }

  /** `fresh`: the kernel is asked now (a send that slept), not at most every 5 ms. */
  #checkPeerForSend(fresh = false): void {
    if (this.#peerGone(fresh)) throw new ShmError(ErrorCodes.PIPE_CLOSED, `the other end of pipe ${JSON.stringify(this.name)} closed`);
  }
}

function timeout(what: string): ShmError {
  return new ShmError(ErrorCodes.TIMEOUT, `pipe ${what} timed out`);
}

/** The create options of a pipe, checked. */
function pipeArgs(name: unknown, options: unknown) {
  const opts = checkObject<PipeCreateOptions>(options, 'options');
  const args = createArgs(name, options);
  const capacity = capacityOption(opts.capacity);
  return { ...args, capacity, capacityGiven: opts.capacity !== undefined };
}

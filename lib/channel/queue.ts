import { ErrorCodes, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { SegmentHandle } from '../core/handle.js';
import { openOrCreate, settle, shapeMismatch } from '../core/lifetime.js';
import { native, type QueueHandle } from '../core/native.js';
import { createArgs, type LifetimeOptions, type OpenOptions, openArgs, openTimeout } from '../core/options.js';
import { closedOnError, createTyped, openTyped, type TypedSegment } from '../core/typed-segment.js';
import { checkInteger, checkObject, INT32_MAX } from '../core/validate.js';
import { Acquired, LockWord } from '../sync/lock-word.js';
import {
  hasAsyncDoorbell,
  type ParsedWait,
  parseWaitOptions,
  RETRY,
  TIMED_OUT,
  type TimedOut,
  type WaitOptions,
  type WaitPlan,
  waitAsync,
  waitSync,
} from '../sync/waiting.js';
import { Ctl, type HeldFrame, HOLDERS, NO_ENTRY, NO_MESSAGE, RING_DTYPE, Ring, ringBytes } from './ring.js';
import { asIsTag, capacityOption, RingReader, RingWriter } from './ring-end.js';
import type { MessageView, Slot } from './zero-copy.js';

/** How often a consumer taking messages looks for ones held by dead consumers (it always looks when it finds none). */
const ORPHAN_CHECK_MS = 100;

/** Options of `Queue.create` (and, with `timeout`, of `Queue.openOrCreate`). */
export interface QueueCreateOptions extends LifetimeOptions {
  /**
   * Bytes of ring (rounded up to a power of two; default 1 MiB). Each message takes 8 bytes plus its payload padded to 8;
   * the largest message is `capacity - 16` bytes.
   */
  capacity?: number;
  /** Most messages at once (0, the default: only `capacity` limits). */
  maxsize?: number;
  /** Permission bits of the new segment, applied exactly. Default `0o600`. */
  mode?: number;
}

/** Thrown by `put` when the queue stays full (Python's `queue.Full`); `code` ERR_SHM_QUEUE_FULL. */
export class Full extends ShmError {
  constructor(message = 'the queue is full') {
    super(ErrorCodes.QUEUE_FULL, message);
    this.name = 'Full';
  }
}

/** Thrown by `get` when the queue stays empty (Python's `queue.Empty`); `code` ERR_SHM_QUEUE_EMPTY. */
export class Empty extends ShmError {
  constructor(message = 'the queue is empty') {
    super(ErrorCodes.QUEUE_EMPTY, message);
    this.name = 'Empty';
  }
}

/**
 * A bounded multi-producer, multi-consumer message queue in shared memory, by
 * name: any process that knows the name can put and get. Messages are
 * `Buffer`s and typed arrays (they come back as the same type), strings, or
 * any structured-cloneable value (`v8.serialize`).
 *
 * Producers take turns through a crash-safe put lock, consumers through a get
 * lock, so a put and a get run at the same time. A producer killed while
 * writing a message leaves nothing visible; a consumer killed before it has
 * copied a message out, or while it holds the message's view, leaves it for
 * the next consumer; one killed after the copy loses it (at-least-once up to
 * the copy or the view's release, at-most-once after).
 */
export class Queue<T = unknown> extends SegmentHandle implements AsyncIterable<T> {
  readonly #ring: Ring;
  /** This handle's token (it marks the frames it holds as views) and the liveness check of others'. */
  readonly #owner: TypedSegment;
  readonly #putLock: LockWord;
  readonly #getLock: LockWord;
  /** The per-message calls in the addon (native/channel/queue.cc): a put and a get's first try, locks included. */
  readonly #native: QueueHandle;
  /** Puts and reserves: their turns, and the slot handed out last (it holds the put lock until committed or abandoned). */
  readonly #writer: RingWriter;
  /** Gets and getViews: their turns, and the view handed out last (it holds its frame until released). */
  readonly #reader: RingReader;
  readonly #readPlan: WaitPlan<T>;
  /** Waits for the next message's frame, taken as a view (getView). */
  readonly #viewPlan: WaitPlan<HeldFrame>;
  /** When this handle next looks for frames held by dead consumers while messages flow (#orphan). */
  #nextOrphanCheck = 0;

  private constructor(typed: TypedSegment) {
    super(typed);
    this.#ring = new Ring(
      typed.segment,
      typed.data.byteOffset,
      typed.data.byteOffset + typed.data.byteLength,
      true,
      `queue ${JSON.stringify(typed.segment.name)}`,
    );
    this.#owner = typed;
    this.#putLock = new LockWord(this.#ring.words, Ctl.putLock, typed);
    this.#getLock = new LockWord(this.#ring.words, Ctl.getLock, typed);
    this.#native = native.queueOpen(this.#ring.handle, this.#ring.readSpinner.state, typed.token);
    this.#writer = new RingWriter(this.#ring, this, 'queue');
    this.#reader = new RingReader(this.#ring);
    this.#readPlan = this.#ring.readPlan(() => {
      const message = this.#tryRead();
      return message === NO_MESSAGE ? RETRY : message;
    });
    this.#viewPlan = this.#ring.readPlan(() => this.#takeView() ?? RETRY);
  }

  /** @internal */
  protected static override readonly kindCode = Kind.queue;

  /** Creates a queue named `name` (`EEXIST` if the name exists). */
  static create<T = unknown>(name: string, options?: QueueCreateOptions): Queue<T> {
    const args = queueArgs(name, options);
    return settle(Queue.#create<T>(args), args.lifetime);
  }

  /** Opens an existing queue by name. */
  static open<T = unknown>(name: string, options?: OpenOptions): Queue<T> {
    const args = openArgs(name, options);
    return Queue.#open<T>(args.name, args.timeout);
  }

  /**
   * Opens the queue `name` if it exists, else creates it with `options`. An
   * existing queue must have the `capacity` and `maxsize` given (options left
   * out are not compared). Of several processes racing, one creates.
   * @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object, or a queue of another capacity or maxsize
   */
  static openOrCreate<T = unknown>(name: string, options?: QueueCreateOptions & OpenOptions): Queue<T> {
    const args = queueArgs(name, options);
    const timeout = openTimeout(options);
    const queue = openOrCreate(
      () => Queue.#open<T>(args.name, timeout),
      () => Queue.#create<T>(args),
      (existing) => {
        const maxsize = Atomics.load(existing.#ring.words, Ctl.maxsize);
        if (args.given.capacity && existing.capacity !== args.capacity) {
          throw shapeMismatch('Queue', args.name, `a capacity of ${existing.capacity} bytes`, `a capacity of ${args.capacity} bytes`);
        }
        if (args.given.maxsize && maxsize !== args.maxsize) throw shapeMismatch('Queue', args.name, `maxsize ${maxsize}`, `maxsize ${args.maxsize}`);
      },
    );
    return settle(queue, args.lifetime);
  }

  static #create<T>(args: ReturnType<typeof queueArgs>): Queue<T> {
    const { capacity, maxsize } = args;
    const typed = createTyped(args.name, Kind.queue, RING_DTYPE, ringBytes(capacity), args.mode, (data) =>
      Ring.init(data.buffer as ArrayBuffer, data.byteOffset, capacity, maxsize, true),
    );
    return new Queue(typed);
  }

  static #open<T>(name: string, timeout: number): Queue<T> {
    const typed = openTyped(name, Kind.queue, timeout);
    return closedOnError(typed, () => new Queue<T>(typed));
  }

  /** Bytes of ring. */
  get capacity(): number {
    return this.#ring.capacity;
  }

  /** @internal */
  protected override inspectState(): Record<string, unknown> {
    return { capacity: this.capacity, qsize: this.qsize() };
  }

  /**
   * Adds a message, waiting for room without blocking the event loop.
   * @throws {Full} if there is still no room when `timeout` passes.
   * @throws {ShmError} ERR_SHM_MESSAGE_TOO_LARGE if it could never fit;
   *   ERR_SHM_CLOSED if this handle is closed meanwhile. AbortError.
   */
  async put(message: T, options?: WaitOptions): Promise<void> {
    // The common case inline: no options, no slot, no put waiting before
    // it, and a message the addon writes as it is: one call to the addon,
    // the put lock included (docs/design.md, "Rings in the addon").
    const tag = options === undefined && this.#writer.idle ? asIsTag(message) : undefined;
    if (tag !== undefined && native.queuePut(this.#native, message, tag)) return;
    const wait = parseWaitOptions(options);
    const plan = this.#writer.start(message, this.#putNow, true);
    if (plan === undefined) return;
    const written = await this.#writer.inTurn(wait, () => this.#locked(this.#putLock, wait, () => waitAsync(this, plan, wait, this.#ring.writeSpinner)));
    if (written === TIMED_OUT) throw new Full();
  }

  /**
   * `put` blocking this thread.
   * @throws {ShmError} ERR_SHM_WOULD_DEADLOCK if an async put or reserve of
   *   this handle waits holding the put lock; and as `put`.
   */
  putSync(message: T, options?: WaitOptions): void {
    const tag = options === undefined && !this.#writer.holdsSlot ? asIsTag(message) : undefined; // as in put
    if (tag !== undefined && native.queuePut(this.#native, message, tag)) return;
    const wait = parseWaitOptions(options);
    const plan = this.#writer.start(message, this.#putNow, false);
    if (plan === undefined) return;
    const written = this.#lockedSync(this.#putLock, wait, () => waitSync(this, plan, wait, this.#ring.writeSpinner));
    if (written === TIMED_OUT) throw new Full();
  }

  /** Adds a message if there is room now. @throws {Full} */
  putNowait(message: T): void {
    const encoded = this.#writer.encode(message);
    this.#writer.abandonSlot();
    if (this.#putLock.tryAcquire() === Acquired.No) throw new Full('the queue is busy or full');
    try {
      if (!this.#ring.tryWrite(encoded)) throw new Full();
    } finally {
      this.#putLock.release();
    }
  }

  /**
   * Removes and returns the oldest message, waiting without blocking the
   * event loop. @throws {Empty} if none arrives before `timeout`;
   * ShmError ERR_SHM_CLOSED if this handle is closed meanwhile; AbortError.
   */
  async get(options?: WaitOptions): Promise<T> {
    // The common case inline, as in put: no options, no view held, no get
    // waiting before it. The first try (the get lock, and the spin the read
    // spinner allows an async wait) is one call to the addon; a wait that
    // must go on sleeps at once.
    if (options === undefined && this.#reader.idle) {
      const read = this.#taken(native.queueGet(this.#native, Infinity, hasAsyncDoorbell()));
      return read !== NO_MESSAGE ? read : this.#getLater(parseWaitOptions(undefined), this.#reader.spunSince());
    }
    const wait = parseWaitOptions(options);
    let spunSince: number | undefined;
    if (this.#reader.turns.idle) {
      this.#reader.releaseView();
      const read = this.#getNow(hasAsyncDoorbell(), wait);
      if (read !== NO_MESSAGE) return read;
      spunSince = this.#reader.spunSince();
    }
    return this.#getLater(wait, spunSince);
  }

  /**
   * `get` blocking this thread.
   * @throws {ShmError} ERR_SHM_WOULD_DEADLOCK if an async get of this handle
   *   waits holding the get lock; and as `get`.
   */
  getSync(options?: WaitOptions): T {
    if (options === undefined && !this.#reader.holdsView) {
      const read = this.#taken(native.queueGet(this.#native)); // as in get
      return read !== NO_MESSAGE ? read : this.#getLaterSync(parseWaitOptions(undefined));
    }
    const wait = parseWaitOptions(options);
    this.#reader.releaseView();
    const read = this.#getNow(undefined, wait);
    return read !== NO_MESSAGE ? read : this.#getLaterSync(wait);
  }

  /** A get whose first try found nothing (or was not made): it waits in this handle's turns for the get lock and a message. */
  async #getLater(wait: ParsedWait, spunSince: number | undefined): Promise<T> {
    this.checkOpen();
    const message = await this.#reader.inTurn(wait, () =>
      this.#locked(this.#getLock, wait, () => waitAsync(this, this.#readPlan, wait, this.#ring.readSpinner, spunSince)),
    );
    if (message === TIMED_OUT) throw new Empty();
    return message;
  }

  /** `#getLater` blocking this thread, after a first try that found nothing. */
  #getLaterSync(wait: ParsedWait): T {
    this.checkOpen();
    const spunSince = this.#reader.spunSince();
    const message = this.#lockedSync(this.#getLock, wait, () => waitSync(this, this.#readPlan, wait, this.#ring.readSpinner, spunSince));
    if (message === TIMED_OUT) throw new Empty();
    return message;
  }

  /** Removes and returns a message if one is there now. @throws {Empty} */
  getNowait(): T {
    this.checkOpen();
    this.#reader.releaseView();
    if (this.#getLock.tryAcquire() === Acquired.No) throw new Empty('the queue is busy or empty');
    try {
      const message = this.#tryRead();
      if (message === NO_MESSAGE) throw new Empty();
      return message;
    } finally {
      this.#getLock.release();
    }
  }

  /**
   * Takes the oldest message without copying it: the view's `bytes` are its
   * bytes in shared memory until `view.release()` frees its room and detaches
   * them. Other consumers go on taking the messages behind it meanwhile (up
   * to 32 views of a queue are held at once, across all its consumers), but
   * its room, and that of every message after it, is free for producers only
   * once it is released: release it soon. The next get on this handle
   * releases it too. A consumer killed while it holds a view leaves the
   * message to be delivered again to another consumer. @throws like `get`;
   * ShmError ERR_SHM_TOO_MANY_VIEWS if 32 views of this queue are held.
   */
  async getView(options?: WaitOptions): Promise<MessageView> {
    this.checkOpen();
    const wait = parseWaitOptions(options);
    const frame = await this.#reader.inTurn(wait, () =>
      this.#locked(this.#getLock, wait, async () => this.#takeView() ?? waitAsync(this, this.#viewPlan, wait, this.#ring.readSpinner)),
    );
    if (frame === TIMED_OUT) throw new Empty();
    return this.#viewOf(frame);
  }

  /** `getView` blocking this thread. @throws like `getSync`. */
  getViewSync(options?: WaitOptions): MessageView {
    this.checkOpen();
    const wait = parseWaitOptions(options);
    this.#reader.releaseView();
    const frame = this.#lockedSync(this.#getLock, wait, () => this.#takeView() ?? waitSync(this, this.#viewPlan, wait, this.#ring.readSpinner));
    if (frame === TIMED_OUT) throw new Empty();
    return this.#viewOf(frame);
  }

  /**
   * Reserves room for a message of `byteLength` bytes: write it into
   * `slot.bytes` (shared memory), then `slot.commit()` puts it (received as a
   * Buffer). The slot holds the put lock until it is committed or abandoned
   * (disposed, or superseded by the next put or reserve on this handle), so
   * other producers wait: commit soon. A producer killed holding a slot puts
   * nothing. @throws {Full} if there is no room before `timeout`; ShmError
   * ERR_SHM_MESSAGE_TOO_LARGE if it could never fit; AbortError.
   */
  async reserve(byteLength: number, options?: WaitOptions): Promise<Slot> {
    const writer = this.#writer;
    const length = writer.reservable(byteLength);
    const wait = parseWaitOptions(options);
    const at = await writer.inTurn(wait, () =>
      this.#holding(this.#putLock, wait, async () => {
        const now = this.#ring.tryReserve(length);
        return now >= 0 ? now : waitAsync(this, writer.reservePlan(length), wait, this.#ring.writeSpinner);
      }),
    );
    if (at === TIMED_OUT) throw new Full();
    return this.#slotAt(at, length);
  }

  /** `reserve` blocking this thread. @throws like `putSync`. */
  reserveSync(byteLength: number, options?: WaitOptions): Slot {
    const writer = this.#writer;
    const length = writer.reservable(byteLength);
    const wait = parseWaitOptions(options);
    writer.abandonSlot();
    const at = this.#holdingSync(this.#putLock, wait, () => {
      const now = this.#ring.tryReserve(length);
      return now >= 0 ? now : waitSync(this, writer.reservePlan(length), wait, this.#ring.writeSpinner);
    });
    if (at === TIMED_OUT) throw new Full();
    return this.#slotAt(at, length);
  }

  /** Closes this handle: a held view is released and an uncommitted slot abandoned first. Idempotent; does not unlink. */
  override close(): void {
    if (this.closed) return;
    this.#reader.releaseView();
    this.#writer.abandonSlot();
    super.close();
  }

  /** Messages in the queue now, not counting those taken and held as views (a snapshot: others may change it at once). */
  qsize(): number {
    this.checkOpen();
    // -1 while a producer is between publishing its message and counting it, if a consumer took the message meanwhile.
    return Math.max(0, this.#ring.count);
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  /** True if not even an empty message fits now. */
  full(): boolean {
    this.checkOpen();
    return this.#ring.isFull();
  }

  /** Yields messages as they arrive; ends (without throwing) when this handle is closed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    while (!this.closed) {
      try {
        yield await this.get();
      } catch (err) {
        if (this.closed && err instanceof ShmError && err.code === ErrorCodes.CLOSED) return;
        throw err;
      }
    }
  }

  /** The addon's put (native/channel/queue.cc), the put lock taken and given back inside it: RingWriter#writeNow's `write`. */
  readonly #putNow = (message: unknown, tag: number): boolean => native.queuePut(this.#native, message, tag);

  /**
   * A get's first try in the addon (native/channel/queue.cc), with the get
   * lock and the spin the read spinner allows within `wait`'s deadline: a
   * blocking get's without `doorbell`, an async get's with it.
   */
  #getNow(doorbell: boolean | undefined, wait: ParsedWait): T | typeof NO_MESSAGE {
    const maxSpinMs = wait.deadline.remaining();
    return this.#taken(doorbell === undefined ? native.queueGet(this.#native, maxSpinMs) : native.queueGet(this.#native, maxSpinMs, doorbell));
  }

  /**
   * What the addon's first try read: NO_MESSAGE when nothing came, or no
   * read was made (the wait then finds out why). A message that is not a
   * string or typed array is decoded here, and the get lock the addon left
   * taken for it given back.
   */
  #taken(read: unknown): T | typeof NO_MESSAGE {
    if (read === undefined) return NO_MESSAGE;
    if (typeof read !== 'number') return read as T;
    this.#getLock.adopt();
    try {
      return this.#ring.readLeft(read) as T;
    } finally {
      this.#getLock.release();
    }
  }

  /**
   * The next message, as the type this queue was declared to carry (the
   * caller's promise: nothing checks it); with none, one whose consumer died
   * holding it as a view. The get lock is held.
   */
  #tryRead(): T | typeof NO_MESSAGE {
    let orphan = this.#orphan(false);
    if (orphan === undefined) {
      const message = this.#ring.tryRead();
      if (message !== NO_MESSAGE) return message as T;
      orphan = this.#orphan(true);
      if (orphan === undefined) return NO_MESSAGE;
    }
    try {
      return this.#ring.decodeHeld(orphan) as T;
    } finally {
      this.#ring.unhold(orphan, this.#owner.token);
    }
  }

  /**
   * The next message's frame, taken as this handle's view; with none, one
   * whose consumer died holding it; undefined if there is neither. The get
   * lock is held. @throws {ShmError} ERR_SHM_TOO_MANY_VIEWS
   */
  #takeView(): HeldFrame | undefined {
    const frame = this.#orphan(false) ?? this.#ring.hold(this.#owner.token);
    if (frame !== NO_ENTRY && frame !== undefined) return frame;
    const orphan = this.#orphan(true);
    if (orphan !== undefined || frame === undefined) return orphan;
    throw new ShmError(ErrorCodes.TOO_MANY_VIEWS, `${HOLDERS} views of queue ${JSON.stringify(this.name)} are held at once: release one first`);
  }

  /**
   * A frame whose consumer died holding it as a view, now held by this
   * handle, to be delivered again; undefined if none (one load when no view
   * is held). Liveness costs a system call per holder, so while messages
   * flow (`idle` false) it is checked at most every ORPHAN_CHECK_MS; a
   * consumer that finds nothing new checks every time. The get lock is held.
   */
  #orphan(idle: boolean): HeldFrame | undefined {
    if (!this.#ring.holdsViews()) return undefined;
    if (!idle) {
      const now = performance.now();
      if (now < this.#nextOrphanCheck) return undefined;
      this.#nextOrphanCheck = now + ORPHAN_CHECK_MS;
    }
    return this.#ring.adoptDead(this.#owner.token, (token) => this.#owner.isAlive(token));
  }

  /** A view of `frame`, which this handle holds; releasing it frees the frame (and, once no older one is held, its room). */
  #viewOf(frame: HeldFrame): MessageView {
    // Held as a lock is: a handle collected while its view is held keeps its token, so the frame is not delivered again meanwhile.
    this.#owner.hold(1);
    return this.#reader.viewOf(frame, () => {
      this.#owner.hold(-1);
      if (!this.closed) this.#ring.unhold(frame, this.#owner.token);
    });
  }

  /** A slot at `at`, holding the put lock: committing publishes it, and either way the lock goes back. */
  #slotAt(at: number, length: number): Slot {
    return this.#writer.slotAt(at, length, () => {
      if (!this.closed) this.#putLock.release();
    });
  }

  /**
   * Runs `body` holding `lock` (the put or the get lock), within the same
   * deadline. A lock taken over from a dead holder needs no repair: nothing
   * a holder does is visible before its one publishing store.
   */
  async #locked<T>(lock: LockWord, wait: ParsedWait, body: () => Promise<T | TimedOut>): Promise<T | TimedOut> {
    if ((await lock.acquire(this, wait)) === TIMED_OUT) return TIMED_OUT;
    try {
      // Closed meanwhile (even in the tick of the call: the lock was taken
      // at once, and close() ran before this await ended)? Then the ring's
      // memory is gone: ERR_SHM_CLOSED, not a TypeError from the body.
      this.checkOpen();
      return await body();
    } finally {
      if (!this.closed) lock.release();
    }
  }

  /** Takes `lock` and runs `body`; keeps the lock if `body` succeeds (a view or a slot gives it back later), else gives it back. */
  async #holding<R>(lock: LockWord, wait: ParsedWait, body: () => Promise<R | TimedOut>): Promise<R | TimedOut> {
    if ((await lock.acquire(this, wait)) === TIMED_OUT) return TIMED_OUT;
    let result: R | TimedOut = TIMED_OUT;
    try {
      this.checkOpen(); // as in #locked
      result = await body();
      return result;
    } finally {
      if (result === TIMED_OUT && !this.closed) lock.release();
    }
  }

  /**
   * Takes `lock` blocking this thread. This handle holds it only while one
   * of its own async calls waits (a slot's put lock is given back before a
   * blocking put or reserve): that call cannot go on while this thread
   * blocks, so the wait would never end.
   */
  #acquireSync(lock: LockWord, wait: ParsedWait): Acquired | TimedOut {
    if (lock.isHeldByMe()) {
      const calls = lock === this.#getLock ? 'get' : 'put or reserve';
      throw new ShmError(
        ErrorCodes.WOULD_DEADLOCK,
        `an async ${calls} of this handle waits holding the lock a blocking call needs; it would never return (await that call first)`,
      );
    }
    return lock.acquireSync(this, wait);
  }

  #holdingSync<R>(lock: LockWord, wait: ParsedWait, body: () => R | TimedOut): R | TimedOut {
    if (this.#acquireSync(lock, wait) === TIMED_OUT) return TIMED_OUT;
    let result: R | TimedOut = TIMED_OUT;
    try {
      result = body();
      return result;
    } finally {
      if (result === TIMED_OUT) lock.release();
    }
  }

  #lockedSync<T>(lock: LockWord, wait: ParsedWait, body: () => T | TimedOut): T | TimedOut {
    if (this.#acquireSync(lock, wait) === TIMED_OUT) return TIMED_OUT;
    try {
      return body();
    } finally {
      lock.release();
    }
  }
}

/** The create options of a queue, checked; `given` says which the caller gave (openOrCreate compares those). */
function queueArgs(name: unknown, options: unknown) {
  const opts = checkObject<QueueCreateOptions>(options, 'options');
  const args = createArgs(name, options);
  const capacity = capacityOption(opts.capacity);
  const maxsize = opts.maxsize === undefined ? 0 : checkInteger(opts.maxsize, 'options.maxsize', 0, INT32_MAX);
  return { ...args, capacity, maxsize, given: { capacity: opts.capacity !== undefined, maxsize: opts.maxsize !== undefined } };
}

import { resolveDType } from '../core/dtypes.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { SegmentHandle } from '../core/handle.js';
import { createArgs, type OpenOptions, openArgs } from '../core/options.js';
import { closedOnError, createTyped, openTyped, type TypedSegment } from '../core/typed-segment.js';
import { checkInteger, checkObject } from '../core/validate.js';
import { Acquired, LockWord } from '../sync/lock-word.js';
import { type ParsedWait, parseWaitOptions, RETRY, TIMED_OUT, type TimedOut, type WaitOptions, type WaitPlan, waitAsync, waitSync } from '../sync/waiting.js';
import type { Encoded } from './codec.js';
import { Ctl, NO_MESSAGE, Ring, ringBytes, ringCapacity } from './ring.js';

const BYTES = resolveDType('uint8');
const DEFAULT_CAPACITY = 1 << 20;
const MAX_CAPACITY = 2 ** 30;

/** Options of `Queue.create`. */
export interface QueueCreateOptions {
  /** Bytes of ring (rounded up to a power of two; default 1 MiB). Each message takes 8 bytes plus its payload padded to 8. */
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
 * copied a message out leaves it for the next consumer, one killed after the
 * copy loses it (at-least-once up to the copy, at-most-once after).
 */
export class Queue<T = unknown> extends SegmentHandle implements AsyncIterable<T> {
  readonly #ring: Ring;
  readonly #putLock: LockWord;
  readonly #getLock: LockWord;

  readonly #readPlan: WaitPlan<T>;

  private constructor(typed: TypedSegment) {
    super(typed);
    this.#ring = new Ring(typed.segment, typed.data.byteOffset, typed.data.byteOffset + typed.data.byteLength, `queue ${JSON.stringify(typed.segment.name)}`);
    this.#putLock = new LockWord(this.#ring.words, Ctl.putLock, typed);
    this.#getLock = new LockWord(this.#ring.words, Ctl.getLock, typed);
    this.#readPlan = this.#ring.readPlan(() => {
      const message = this.#tryRead();
      return message === NO_MESSAGE ? RETRY : message;
    });
  }

  /** Creates a queue named `name` (`EEXIST` if the name exists). */
  static create<T = unknown>(name: string, options?: QueueCreateOptions): Queue<T> {
    const opts = checkObject<QueueCreateOptions>(options, 'options');
    const args = createArgs(name, { mode: opts.mode });
    const capacity = ringCapacity(opts.capacity === undefined ? DEFAULT_CAPACITY : checkInteger(opts.capacity, 'options.capacity', 1, MAX_CAPACITY));
    const maxsize = opts.maxsize === undefined ? 0 : checkInteger(opts.maxsize, 'options.maxsize', 0, 2 ** 31 - 1);
    const typed = createTyped(args.name, Kind.queue, BYTES, ringBytes(capacity), args.mode, (data) =>
      Ring.init(data.buffer as ArrayBuffer, data.byteOffset, capacity, maxsize, true),
    );
    return new Queue(typed);
  }

  /** Opens an existing queue by name. */
  static open<T = unknown>(name: string, options?: OpenOptions): Queue<T> {
    const args = openArgs(name, options);
    const typed = openTyped(args.name, Kind.queue, args.timeout);
    return closedOnError(typed, () => new Queue(typed));
  }

  /** Bytes of ring. */
  get capacity(): number {
    return this.#ring.capacity;
  }

  /**
   * Adds a message, waiting for room without blocking the event loop.
   * @throws {Full} if there is still no room when `timeout` passes.
   * @throws {ShmError} ERR_SHM_MESSAGE_TOO_LARGE if it could never fit;
   *   ERR_SHM_CLOSED if this handle is closed meanwhile. AbortError.
   */
  async put(message: T, options?: WaitOptions): Promise<void> {
    const wait = parseWaitOptions(options);
    const encoded = this.#encode(message);
    if (this.#tryPutFast(encoded)) return;
    const written = await this.#locked(this.#putLock, wait, () => waitAsync(this, this.#writePlan(encoded), wait, this.#ring.writeSpinner));
    if (written === TIMED_OUT) throw new Full();
  }

  /** `put` blocking this thread. */
  putSync(message: T, options?: WaitOptions): void {
    const wait = parseWaitOptions(options);
    const encoded = this.#encode(message);
    if (this.#tryPutFast(encoded)) return;
    const written = this.#lockedSync(this.#putLock, wait, () => waitSync(this, this.#writePlan(encoded), wait, this.#ring.writeSpinner));
    if (written === TIMED_OUT) throw new Full();
  }

  /** Adds a message if there is room now. @throws {Full} */
  putNowait(message: T): void {
    const encoded = this.#encode(message);
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
    this.checkOpen();
    const wait = parseWaitOptions(options);
    const fast = this.#tryGetFast();
    if (fast !== NO_MESSAGE) return fast;
    const message = await this.#locked(this.#getLock, wait, () => waitAsync(this, this.#readPlan, wait, this.#ring.readSpinner));
    if (message === TIMED_OUT) throw new Empty();
    return message;
  }

  /** `get` blocking this thread. */
  getSync(options?: WaitOptions): T {
    this.checkOpen();
    const wait = parseWaitOptions(options);
    const fast = this.#tryGetFast();
    if (fast !== NO_MESSAGE) return fast;
    const message = this.#lockedSync(this.#getLock, wait, () => waitSync(this, this.#readPlan, wait, this.#ring.readSpinner));
    if (message === TIMED_OUT) throw new Empty();
    return message;
  }

  /** Removes and returns a message if one is there now. @throws {Empty} */
  getNowait(): T {
    this.checkOpen();
    if (this.#getLock.tryAcquire() === Acquired.No) throw new Empty('the queue is busy or empty');
    try {
      const message = this.#tryRead();
      if (message === NO_MESSAGE) throw new Empty();
      return message;
    } finally {
      this.#getLock.release();
    }
  }

  /** Messages in the queue now (a snapshot: others may change it at once). */
  qsize(): number {
    this.checkOpen();
    return this.#ring.count;
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

  /** The next message, as the type this queue was declared to carry (the caller's promise: nothing checks it). */
  #tryRead(): T | typeof NO_MESSAGE {
    return this.#ring.tryRead() as T | typeof NO_MESSAGE;
  }

  #encode(message: unknown): Encoded {
    this.checkOpen();
    return this.#ring.encode(message, 'queue', this.name);
  }

  /** The uncontended put: the lock's one compare-and-swap, one tryWrite. */
  #tryPutFast(encoded: Encoded): boolean {
    if (!this.#putLock.tryFast()) return false;
    try {
      return this.#ring.tryWrite(encoded);
    } finally {
      this.#putLock.release();
    }
  }

  #tryGetFast(): T | typeof NO_MESSAGE {
    if (!this.#getLock.tryFast()) return NO_MESSAGE;
    try {
      return this.#tryRead();
    } finally {
      this.#getLock.release();
    }
  }

  #writePlan(encoded: Encoded): WaitPlan<true> {
    return this.#ring.writePlan(() => (this.#ring.tryWrite(encoded) ? true : RETRY));
  }

  /**
   * Runs `body` holding `lock` (the put or the get lock), within the same
   * deadline. A lock taken over from a dead holder needs no repair: nothing
   * a holder does is visible before its one publishing store.
   */
  async #locked<T>(lock: LockWord, wait: ParsedWait, body: () => Promise<T | TimedOut>): Promise<T | TimedOut> {
    if ((await lock.acquire(this, wait)) === TIMED_OUT) return TIMED_OUT;
    try {
      return await body();
    } finally {
      if (!this.closed) lock.release();
    }
  }

  #lockedSync<T>(lock: LockWord, wait: ParsedWait, body: () => T | TimedOut): T | TimedOut {
    if (lock.acquireSync(this, wait) === TIMED_OUT) return TIMED_OUT;
    try {
      return body();
    } finally {
      lock.release();
    }
  }
}

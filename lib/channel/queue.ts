import type { Encoded } from './codec.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { Acquired, LockWord } from '../sync/lock-word.js';
import { Ctl, EMPTY, Ring, ringBytes, ringCapacity } from './ring.js';
import { parseWait, type ParsedWait, type SyncWaitOptions } from '../sync/sync-object.js';
import { createArgs, openArgs, type OpenOptions } from '../core/options.js';
import { resolveDType } from '../core/dtypes.js';
import { SegmentHandle } from '../core/handle.js';
import { createTyped, openTyped, type TypedSegment } from '../core/typed-segment.js';
import { checkInteger, checkObject } from '../core/validate.js';

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

/** Options of `put` / `get`. */
export type QueueWaitOptions = SyncWaitOptions;

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
 * writing a message leaves nothing visible; a consumer killed while reading
 * one leaves it in the queue for the next consumer.
 */
export class Queue extends SegmentHandle implements AsyncIterable<unknown> {
  readonly #ring: Ring;
  readonly #putLock: LockWord;
  readonly #getLock: LockWord;

  private constructor(typed: TypedSegment) {
    super(typed);
    this.#ring = new Ring(typed.segment.buffer, typed.data.byteOffset);
    this.#putLock = new LockWord(this.#ring.words, Ctl.putLock, typed);
    this.#getLock = new LockWord(this.#ring.words, Ctl.getLock, typed);
  }

  /** Creates a queue named `name` (`EEXIST` if the name exists). */
  static create(name: string, options?: QueueCreateOptions): Queue {
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
  static open(name: string, options?: OpenOptions): Queue {
    const args = openArgs(name, options);
    return new Queue(openTyped(args.name, Kind.queue, args.timeout));
  }


  /** Bytes of ring. */
  get capacity(): number {
    return this.#ring.capacity;
  }

  /**
   * Adds a message, waiting for room without blocking the event loop.
   * @throws {Full} if there is still no room when `timeout` passes.
   * @throws {ShmError} ERR_SHM_MESSAGE_TOO_LARGE if it could never fit.
   */
  async put(message: unknown, options?: QueueWaitOptions): Promise<void> {
    const encoded = this.#encode(message);
    const wait = parseWait(options);
    if (!this.#entered(await this.#putLock.acquire(remaining(wait), wait.signal))) throw new Full();
    try {
      while (!this.#ring.tryWrite(encoded)) {
        if (!(await this.#ring.waitForRoom(wait))) throw new Full();
        this.checkOpen();
      }
    } finally {
      this.#putLock.release();
    }
  }

  /** `put` blocking this thread. */
  putSync(message: unknown, options?: Omit<QueueWaitOptions, 'signal'>): void {
    const encoded = this.#encode(message);
    if (this.#putLock.tryFast()) {
      // Uncontended: no options to parse unless the ring is full.
      try {
        if (this.#ring.tryWrite(encoded)) return;
      } finally {
        this.#putLock.release();
      }
    }
    const wait = parseWait(options);
    if (!this.#entered(this.#putLock.acquireSync(remaining(wait)))) throw new Full();
    try {
      while (!this.#ring.tryWrite(encoded)) {
        if (!this.#ring.waitForRoomSync(wait)) throw new Full();
      }
    } finally {
      this.#putLock.release();
    }
  }

  /** Adds a message if there is room now. @throws {Full} */
  putNowait(message: unknown): void {
    const encoded = this.#encode(message);
    if (!this.#entered(this.#putLock.tryAcquire())) throw new Full('the queue is busy or full');
    try {
      if (!this.#ring.tryWrite(encoded)) throw new Full();
    } finally {
      this.#putLock.release();
    }
  }

  /**
   * Removes and returns the oldest message, waiting without blocking the
   * event loop. @throws {Empty} if none arrives before `timeout`.
   */
  async get(options?: QueueWaitOptions): Promise<unknown> {
    this.checkOpen();
    const wait = parseWait(options);
    if (!this.#entered(await this.#getLock.acquire(remaining(wait), wait.signal))) throw new Empty();
    try {
      for (;;) {
        const message = this.#ring.tryRead();
        if (message !== EMPTY) return message;
        if (!(await this.#ring.waitForData(wait))) throw new Empty();
        this.checkOpen();
      }
    } finally {
      this.#getLock.release();
    }
  }

  /** `get` blocking this thread. */
  getSync(options?: Omit<QueueWaitOptions, 'signal'>): unknown {
    this.checkOpen();
    if (this.#getLock.tryFast()) {
      let message: unknown;
      try {
        message = this.#ring.tryRead();
      } finally {
        this.#getLock.release();
      }
      if (message !== EMPTY) return message;
    }
    const wait = parseWait(options);
    if (!this.#entered(this.#getLock.acquireSync(remaining(wait)))) throw new Empty();
    try {
      for (;;) {
        const message = this.#ring.tryRead();
        if (message !== EMPTY) return message;
        if (!this.#ring.waitForDataSync(wait)) throw new Empty();
      }
    } finally {
      this.#getLock.release();
    }
  }

  /** Removes and returns a message if one is there now. @throws {Empty} */
  getNowait(): unknown {
    this.checkOpen();
    if (!this.#entered(this.#getLock.tryAcquire())) throw new Empty('the queue is busy or empty');
    try {
      const message = this.#ring.tryRead();
      if (message === EMPTY) throw new Empty();
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

  /** Yields messages as they arrive, until this handle is closed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<unknown> {
    while (!this.closed) {
      try {
        yield await this.get({ timeout: 250 });
      } catch (err) {
        if (!(err instanceof Empty) && !(err instanceof ShmError && err.code === ErrorCodes.CLOSED)) throw err;
      }
    }
  }

  #encode(message: unknown): Encoded {
    this.checkOpen();
    return this.#ring.encode(message, 'queue', this.name);
  }

  /** Lock taken? A takeover from a dead holder needs no repair: nothing it did was published. */
  #entered(result: Acquired): boolean {
    return result !== Acquired.No;
  }

}

function remaining(wait: ParsedWait): number {
  return Math.max(0, wait.deadline - performance.now());
}


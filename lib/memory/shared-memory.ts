import { trace } from '../core/debug.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import { normalizeName, randomName } from '../core/names.js';
import { createSegment, type MappedSegment, openSegment, unlinkSegment } from '../core/segment.js';
import { checkBoolean, checkInteger, checkObject, checkSize } from '../core/validate.js';

/** Options for {@link SharedMemory}, named as in Python's `SharedMemory`. */
export interface SharedMemoryOptions {
  /**
   * Segment name, `name` or `/name`: 1-30 characters from `[A-Za-z0-9._-]`
   * for portability (Linux allows up to 255). Omitted or `null` with
   * `create: true` picks a random name.
   */
  name?: string | null;
  /** Create a new segment (fails with `EEXIST` if the name exists). Default false: attach. */
  create?: boolean;
  /**
   * Bytes. Required with `create`. When attaching it is optional; if given,
   * the segment must be at least this large (else `ERR_SHM_INVALID_SIZE`).
   */
  size?: number;
  /** Permission bits for a new segment, applied exactly (not reduced by umask). Default `0o600`. */
  mode?: number;
}

const RANDOM_NAME_ATTEMPTS = 16;

/**
 * A raw named POSIX shared-memory segment, compatible with Python's
 * `multiprocessing.shared_memory.SharedMemory`: no header, data at offset 0,
 * the size from `fstat` when attaching.
 *
 * ```js
 * const shm = new SharedMemory({ name: 'frame', create: true, size: 1024 });
 * new Float64Array(shm.buffer)[0] = 1.5;   // zero-copy
 * shm.close();                              // every view drops to length 0
 * shm.unlink();                             // removes the name
 * ```
 *
 * Nothing is unlinked implicitly: a segment lives until some process calls
 * `unlink()` (or the machine reboots).
 */
export class SharedMemory implements Disposable {
  #segment: MappedSegment;
  #buf: Buffer | undefined;

  /**
   * Creates (`create: true`) or attaches to a segment. A string argument is
   * shorthand for `{ name }` (attach).
   * @throws {ShmError} `ENOENT` (missing name), `EEXIST` (create of an existing
   *   name), `EACCES`, `ENOSPC`, `ERR_SHM_INVALID_NAME`, `ERR_SHM_INVALID_SIZE`,
   *   `ERR_SHM_EMPTY` (attaching to a segment of size 0).
   */
  constructor(options: SharedMemoryOptions | string) {
    const opts = typeof options === 'string' ? { name: options } : checkObject<SharedMemoryOptions>(options, 'options');
    const create = checkBoolean(opts.create, 'options.create', false);
    if (create) {
      const size = checkSize(opts.size, 'options.size');
      const mode = opts.mode === undefined ? 0o600 : checkInteger(opts.mode, 'options.mode', 0, 0o777);
      this.#segment = opts.name === undefined || opts.name === null ? createRandom(size, mode) : createSegment(normalizeName(opts.name), size, mode);
    } else {
      if (opts.name === undefined || opts.name === null) {
        throw new ShmError(ErrorCodes.INVALID_NAME, 'a name is required to attach (or pass create: true)');
      }
      const name = normalizeName(opts.name);
      const wanted = opts.size === undefined || opts.size === 0 ? 0 : checkSize(opts.size, 'options.size');
      this.#segment = openSegment(name);
      if (wanted > this.#segment.size) {
        const actual = this.#segment.size;
        this.#segment.close();
        throw new ShmError(ErrorCodes.INVALID_SIZE, `segment ${JSON.stringify(name)} is ${actual} bytes, smaller than the ${wanted} asked for`);
      }
    }
    trace(create ? 'create' : 'open', 'SharedMemory', this.#segment.name, `${this.#segment.size} bytes`);
  }

  /** The name without its leading slash (as Python reports it). */
  get name(): string {
    return this.#segment.name;
  }

  /** Size in bytes, as mapped. */
  get size(): number {
    return this.#segment.size;
  }

  /** True once {@link SharedMemory.close} has run. */
  get closed(): boolean {
    return this.#segment.closed;
  }

  /**
   * The mapped bytes as an ArrayBuffer (zero-copy). Views made of it work
   * until `close()`, which detaches it: they then have length 0 and throw a
   * TypeError on use instead of touching unmapped memory.
   * @throws {ShmError} `ERR_SHM_CLOSED` after close.
   */
  get buffer(): ArrayBuffer {
    this.#checkOpen();
    return this.#segment.buffer;
  }

  /** The same bytes as a Node `Buffer` (Python's `.buf`). @throws {ShmError} `ERR_SHM_CLOSED` after close. */
  get buf(): Buffer {
    this.#checkOpen();
    this.#buf ??= Buffer.from(this.#segment.buffer);
    return this.#buf;
  }

  /** Unmaps the memory. Safe to call more than once. Does not unlink. */
  close(): void {
    this.#segment.close();
  }

  /** Removes the name; processes that have it mapped keep their memory. @throws {ShmError} `ENOENT` if already unlinked. */
  unlink(): void {
    unlinkSegment(this.#segment.name);
  }

  /** Removes the segment `name` without opening it. @throws {ShmError} `ENOENT`, `ERR_SHM_INVALID_NAME`. */
  static unlink(name: string): void {
    unlinkSegment(normalizeName(name));
  }

  /** `using shm = new SharedMemory(...)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#segment.closed) {
      throw new ShmError(ErrorCodes.CLOSED, `SharedMemory ${JSON.stringify(this.#segment.name)} is closed`);
    }
  }
}

function createRandom(size: number, mode: number): MappedSegment {
  for (let attempt = 1; ; attempt++) {
    try {
      return createSegment(randomName(), size, mode);
    } catch (err) {
      if (!(err instanceof ShmError) || err.code !== 'EEXIST' || attempt >= RANDOM_NAME_ATTEMPTS) throw err;
    }
  }
}

import { randomInt } from 'node:crypto';
import type { InspectOptionsStylized } from 'node:util';
import { trace } from '../core/debug.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import { INSPECT, type Inspect, inspectHandle } from '../core/inspect.js';
import { forgetAtExit, type Lifetime, MEMBER, type Member, openOrCreate, settle, shapeMismatch } from '../core/lifetime.js';
import { normalizeName, randomName } from '../core/names.js';
import { type LifetimeOptions, lifetimeArgs, openTimeout } from '../core/options.js';
import { acquireToken, createSegment, type MappedSegment, nameLeadsTo, nap, openSegment, releaseToken, unlinkSegment } from '../core/segment.js';
import { type HandleDescription, TRANSFER } from '../core/transfer.js';
import { MAX_TOKEN } from '../core/typed-segment.js';
import { checkBoolean, checkInteger, checkObject, checkSize } from '../core/validate.js';

/** Options for {@link SharedMemory}, named as in Python's `SharedMemory`. */
export interface SharedMemoryOptions extends LifetimeOptions {
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

/** Options of `SharedMemory.openOrCreate`: a name and size are required. */
export interface SharedMemoryOpenOrCreateOptions extends LifetimeOptions {
  name: string;
  /** Bytes of a new segment; an existing one must have at least as many (macOS rounds sizes up to pages). */
  size: number;
  mode?: number;
  /** Milliseconds to wait for a creator that has not sized the segment yet (default 1000). */
  timeout?: number;
}

const RANDOM_NAME_ATTEMPTS = 16;

/** @internal What a ShareableList calls its segment in messages (the kind made over it). */
export const KIND_LABEL: unique symbol = Symbol('shmkit.kindLabel');

// A handle dropped without close() gives its token back when it is collected
// (its mapping goes with the addon's own finalizer).
const dropped = new FinalizationRegistry<{ identity: string; liveness: number }>((owner) => releaseToken(owner.identity, owner.liveness));

/**
 * Whether SharedMemory handles hold liveness tokens (a lock on the file the
 * kernel drops when the process dies, as shmkit objects' handles do), so
 * that a Scope can tell whether another process has a segment open. Only
 * where a Scope can ask (Linux OFD locks); a segment has no header, so its
 * tokens are picked at random.
 */
const TOKENS = process.platform === 'linux';
const RANDOM_TOKENS_FROM = 2 ** 29;

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
  /** This handle's liveness token (Linux), released by close. */
  #owner: { token: number; liveness: number } | undefined;
  /** What this segment is called in messages: 'SharedMemory', or the kind made over it ('ShareableList'). */
  readonly #what: string;

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
    this.#what = (opts as { [KIND_LABEL]?: string })[KIND_LABEL] ?? 'SharedMemory';
    let lifetime: Lifetime | undefined;
    if (create) {
      const size = checkSize(opts.size, 'options.size');
      const mode = opts.mode === undefined ? 0o600 : checkInteger(opts.mode, 'options.mode', 0, 0o777);
      lifetime = lifetimeArgs(opts);
      this.#segment = opts.name === undefined || opts.name === null ? this.#createRandom(size, mode) : this.#create(normalizeName(opts.name), size, mode);
    } else {
      if (opts.name === undefined || opts.name === null) {
        throw new ShmError(ErrorCodes.INVALID_NAME, 'a name is required to attach (or pass create: true)');
      }
      const name = normalizeName(opts.name);
      const wanted = opts.size === undefined || opts.size === 0 ? 0 : checkSize(opts.size, 'options.size');
      this.#segment = this.#open(name);
      if (wanted > this.#segment.size) {
        const actual = this.#segment.size;
        this.close();
        throw new ShmError(ErrorCodes.INVALID_SIZE, `segment ${JSON.stringify(name)} is ${actual} bytes, smaller than the ${wanted} asked for`);
      }
    }
    trace(create ? 'create' : 'open', 'SharedMemory', this.#segment.name, `${this.#segment.size} bytes`);
    if (lifetime !== undefined) settle(this, lifetime);
  }

  /**
   * Attaches to the segment `name` if it exists, else creates it with
   * `size` bytes (zero-filled). Of several processes racing, one creates.
   * @throws {ShmError} ERR_SHM_FORMAT if the segment exists with fewer than `size` bytes
   */
  static openOrCreate(options: SharedMemoryOpenOrCreateOptions): SharedMemory {
    const opts = checkObject<SharedMemoryOpenOrCreateOptions>(options, 'options');
    const name = normalizeName(opts.name);
    const size = checkSize(opts.size, 'options.size');
    const mode = opts.mode === undefined ? 0o600 : checkInteger(opts.mode, 'options.mode', 0, 0o777);
    const lifetime = lifetimeArgs(opts);
    const timeout = openTimeout(opts);
    const what = (opts as { [KIND_LABEL]?: string })[KIND_LABEL];
    const shm = openOrCreate(
      () => attachSized(name, timeout, what),
      () => new SharedMemory({ name, create: true, size, mode, [KIND_LABEL]: what } as SharedMemoryOptions),
      (existing) => {
        if (existing.size < size) throw shapeMismatch('SharedMemory', name, `${existing.size} bytes`, `${size} bytes`);
      },
    );
    return settle(shm, lifetime);
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

  /** What util.inspect prints (lib/core/inspect.ts). */
  [INSPECT](depth: number, options: InspectOptionsStylized, inspect: Inspect): string {
    return inspectHandle(this, () => ({ size: this.size }), depth, options, inspect);
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
    if (this.#owner !== undefined) {
      dropped.unregister(this);
      releaseToken(this.#segment.identity, this.#owner.liveness);
      this.#owner = undefined;
    }
    this.#segment.close();
  }

  /** Removes the name; processes that have it mapped keep their memory. @throws {ShmError} `ENOENT` if already unlinked. */
  unlink(): void {
    unlinkSegment(this.#segment.name);
    forgetAtExit({ namespace: 'segment', identity: this.#segment.identity, name: this.#segment.name });
  }

  /** @internal How this handle crosses to another process (lib/core/transfer.ts). */
  [TRANSFER](): HandleDescription {
    return { kind: 'SharedMemory', name: this.name };
  }

  /** @internal What a Scope and `unlinkOnExit` need of this handle. */
  [MEMBER](): Member {
    const shm = this;
    return {
      name: this.#segment.name,
      namespace: 'segment',
      identity: this.#segment.identity,
      what: this.#what,
      tokens: TOKENS,
      token: () => this.#owner?.token,
      get closed() {
        return shm.closed;
      },
      close: () => this.close(),
    };
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

  #create(name: string, size: number, mode: number): MappedSegment {
    let identity = '';
    try {
      // The token comes before the size: a segment can be attached to as soon as it has one, and
      // a Scope that attached then would otherwise find no token of ours and remove it.
      const beforeSizing = (fd: number, id: string) => {
        identity = id;
        this.#takeToken(fd, { name, identity });
      };
      return createSegment(name, size, mode, { beforeSizing, what: this.#what });
    } catch (err) {
      this.#dropToken(identity);
      throw err;
    }
  }

  #createRandom(size: number, mode: number): MappedSegment {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.#create(randomName(), size, mode);
      } catch (err) {
        if (!(err instanceof ShmError) || err.code !== 'EEXIST' || attempt >= RANDOM_NAME_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * Attaches to `name`, holding a token once attached. A segment a Scope
   * removed between our open and our token (it excludes tokens while it
   * decides) is let go, and the name opened again (docs/design.md,
   * "Removing unused objects": the opener's side of the rule).
   */
  #open(name: string): MappedSegment {
    for (;;) {
      let removed = false;
      const segment = openSegment(
        name,
        (fd, opened) => {
          this.#takeToken(fd, opened);
          try {
            if (this.#owner !== undefined && !nameLeadsTo(name, opened.identity)) {
              this.#dropToken(opened.identity);
              removed = true;
            }
          } catch (err) {
            this.#dropToken(opened.identity);
            throw err;
          }
        },
        false,
        this.#what,
      );
      if (!removed) return segment;
      segment.close();
      trace('open', 'SharedMemory', name, 'removed while opening: opening the name again');
    }
  }

  #takeToken(fd: number, segment: { readonly name: string; readonly identity: string }): void {
    if (!TOKENS) return;
    // The upper half of the tokens: a typed object's counter hands out the
    // lower half first, and a random token equal to a dead holder's still in
    // a lock word would read as that holder alive.
    this.#owner = acquireToken(fd, segment, () => randomInt(RANDOM_TOKENS_FROM, MAX_TOKEN + 1));
    dropped.register(this, { identity: segment.identity, liveness: this.#owner.liveness }, this);
  }

  #dropToken(identity: string): void {
    if (this.#owner === undefined) return;
    dropped.unregister(this);
    releaseToken(identity, this.#owner.liveness);
    this.#owner = undefined;
  }
}

/**
 * @internal Attaches to `name`, waiting up to `timeoutMs` while it has size 0:
 * a creator between shm_open and sizing it (openOrCreate racing a create).
 */
export function attachSized(name: string, timeoutMs: number, what?: string): SharedMemory {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return new SharedMemory({ name, [KIND_LABEL]: what } as SharedMemoryOptions);
    } catch (err) {
      if (!(err instanceof ShmError) || err.code !== ErrorCodes.EMPTY_SEGMENT || Date.now() >= deadline) throw err;
      nap(1);
    }
  }
}

// Creating and opening the self-describing segments that typed objects live
// in. A creator fills the header and data, then publishes `state = ready`; an
// opener waits (briefly) for that, so it never sees a half-made object.
//
// Every handle also gets a lock-owner token from the header's counter, backed
// by a liveness lock the kernel drops when the process dies (native/liveness),
// so locks in the segment can tell a dead holder from a live one.

import { constants as osConstants } from 'node:os';
import { trace } from './debug.js';
import type { DTypeInfo, SharedTypedArray } from './dtypes.js';
import { ErrorCodes, fromNative, ShmError, sys } from './errors.js';
import { HEADER_SIZE, hasForeignMagic, type KindCode, kindName, readHeader, State, Word, writeHeader } from './format.js';
import { systemName } from './names.js';
import { native } from './native.js';
import { createSegment, MAX_MAPPING_BYTES, type MappedSegment, openSegment, unlinkSegment } from './segment.js';

/** How long open() waits by default for a creator to finish initialising. */
export const DEFAULT_OPEN_TIMEOUT_MS = 1000;

/** A handle's token and how many locks (and Queue views) it holds with it now. */
interface Holdings {
  readonly liveness: number;
  readonly name: string;
  count: number;
}

// A handle dropped without close() gives its token back when it is
// collected (its mapping is unmapped by the addon's own finalizer), unless
// it holds a lock: nothing can release that lock any more, and letting the
// token go would tell every waiter its holder died while the process that
// took it runs on (a "single instance" lock kept in a variable nothing
// reads). So the token, and the lock, stay held until the process exits.
const dropped = new FinalizationRegistry<Holdings>((holdings) => {
  if (holdings.count > 0) {
    trace('collected', 'a handle holding a lock', holdings.name, 'its token, and what it holds, stay until this process exits');
    return;
  }
  native.livenessRelease(holdings.liveness);
});

/** Who may hold a lock word, and how to tell whether a holder still lives. */
export interface LockOwner {
  /** This handle's token: 1 .. 2^30-1, never 0. */
  readonly token: number;
  /** The object's name (for NODE_DEBUG lines). */
  readonly name: string;
  /** The mapping the lock word lives in. */
  readonly segment: MappedSegment;
  isAlive(token: number): boolean;
  /** Counts a lock (or view) taken (+1) or given back (-1) with this token: one held keeps the token when the handle is collected. */
  hold(delta: 1 | -1): void;
}

/** The largest token: tokens fit the lock word's owner bits (docs/format.md). */
export const MAX_TOKEN = 0x3fffffff;

/** The token for a counter value read before its increment: 1 .. MAX_TOKEN, never 0. */
function tokenFromCounter(previous: number): number {
  return ((previous >>> 0) % MAX_TOKEN) + 1;
}

/** One open handle of a typed object. */
export class TypedSegment implements LockOwner {
  readonly segment: MappedSegment;
  /** The header as int32 words, for Atomics (see format.ts `Word`). */
  readonly header: Int32Array;
  readonly dtype: DTypeInfo;
  readonly count: number;
  /** The elements, as the dtype's TypedArray over the shared data. */
  readonly data: SharedTypedArray;
  /** This handle's lock-owner token. */
  readonly token: number;
  /** The addon's id of this token's liveness lock, through which others' liveness is asked. */
  readonly liveness: number;
  readonly #holdings: Holdings;

  constructor(segment: MappedSegment, owner: { token: number; liveness: number }, dtype: DTypeInfo, count: number) {
    this.segment = segment;
    this.header = new Int32Array(segment.buffer, 0, HEADER_SIZE / 4);
    this.dtype = dtype;
    this.count = count;
    this.data = new dtype.ArrayType(segment.buffer, HEADER_SIZE, count) as SharedTypedArray;
    this.token = owner.token;
    this.liveness = owner.liveness;
    this.#holdings = { liveness: owner.liveness, name: segment.name, count: 0 };
    dropped.register(this, this.#holdings, this);
  }

  get closed(): boolean {
    return this.segment.closed;
  }

  get name(): string {
    return this.segment.name;
  }

  /** True if the handle owning `token` is still open in a live process. */
  isAlive(token: number): boolean {
    return sys(() => native.livenessAlive(this.liveness, token, this.segment.name));
  }

  hold(delta: 1 | -1): void {
    this.#holdings.count += delta;
  }

  /** Drops the token (a lock this handle still holds reads as its owner dead) and unmaps. */
  close(): void {
    if (this.segment.closed) return;
    dropped.unregister(this);
    native.livenessRelease(this.liveness);
    this.segment.close();
  }
}

/** Builds a handle over `typed`, closing `typed` again if that throws (a corrupt segment). */
export function closedOnError<T>(typed: TypedSegment, make: () => T): T {
  try {
    return make();
  } catch (err) {
    typed.close();
    throw err;
  }
}

/** Most elements one object may hold: what a TypedArray over the data allows. */
export function maxElements(dtype: DTypeInfo): number {
  return Math.floor((MAX_MAPPING_BYTES - HEADER_SIZE) / dtype.bytes);
}

const MAX_TOKEN_ATTEMPTS = 64;

/**
 * How long taking a token waits at most for `shmkit gc`, which holds a lock
 * over every token's byte while it decides whether to remove an object (for
 * microseconds: a header read and an unlink). Only a gc stopped halfway
 * (SIGSTOP, a debugger) holds it longer.
 */
const GC_WAIT_MS = 1000;

/** Takes a fresh token from the header's counter and its liveness lock, through `fd`. */
function takeToken(fd: number, segment: MappedSegment): { token: number; liveness: number } {
  const header = new Int32Array(segment.buffer, 0, HEADER_SIZE / 4);
  const deadline = Date.now() + GC_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    const token = tokenFromCounter(Atomics.add(header, Word.tokenCounter, 1));
    try {
      return { token, liveness: sys(() => native.livenessAcquire(fd, token, segment.name)) };
    } catch (err) {
      if (!(err instanceof ShmError)) throw err;
      if (err.code === 'EBUSY') {
        // A gc is deciding: once it lets go the object is there or removed
        // (openTyped then looks at the name again).
        if (Date.now() >= deadline) {
          throw new ShmError(
            ErrorCodes.TIMEOUT,
            `${JSON.stringify(segment.name)}: another process held a lock over all of its liveness bytes for ${GC_WAIT_MS} ms (shmkit gc holds one for a moment while it decides whether to remove an object)`,
          );
        }
        nap(1);
        continue;
      }
      // EAGAIN: after the counter wrapped, a live handle still holds this token.
      if (err.code !== 'EAGAIN' || attempt >= MAX_TOKEN_ATTEMPTS) throw err;
    }
  }
}

/**
 * True if `name` still leads to the file `segment` mapped. `shmkit gc`
 * removes an object only while no handle holds a token (it locks them all
 * first), so an opener that holds its token and then finds the name still
 * leads to its file has an object no gc can remove under it; one that finds
 * otherwise opened an object removed meanwhile, and opens the name again.
 * Asked by opening the name again (not by a path in /dev/shm: the name
 * resolves as the first open resolved it, wherever the C library keeps
 * segments). The inode cannot have been reused: our mapping keeps it.
 */
function stillNamed(name: string, segment: MappedSegment): boolean {
  let fd: number;
  try {
    fd = native.shmOpen(systemName(name), false, false, 0);
  } catch (err) {
    if ((err as { errno?: number }).errno === osConstants.errno.ENOENT) return false;
    throw fromNative(err, `opening ${name}`);
  }
  try {
    const now = sys(() => native.fileId(fd), `opening ${name}`);
    return now === '' || now === segment.identity; // '': no inodes here (nothing to compare)
  } finally {
    native.closeFd(fd);
  }
}

/**
 * Creates `name` (EEXIST if it exists) holding `count` elements of `dtype`,
 * lets `fill` write the initial data, then marks it ready. A failure before
 * that removes the segment again.
 */
export function createTyped(
  name: string,
  kind: KindCode,
  dtype: DTypeInfo,
  count: number,
  mode: number,
  fill: (data: SharedTypedArray) => void,
  keepFd = false,
): TypedSegment {
  let owner: { token: number; liveness: number } | undefined;
  const segment = createSegment(
    name,
    HEADER_SIZE + count * dtype.bytes,
    mode,
    (fd, seg) => {
      owner = takeToken(fd, seg);
    },
    keepFd,
  );
  // createSegment ran the callback before returning: the token is taken.
  const typed = new TypedSegment(segment, owner as { token: number; liveness: number }, dtype, count);
  try {
    writeHeader(segment.buffer, kind, dtype, count);
    fill(typed.data);
    Atomics.store(typed.header, Word.state, State.ready);
    segment.what = kindName(kind);
    trace('create', segment.what, name, `${count} ${dtype.name}`);
    return typed;
  } catch (err) {
    typed.close();
    unlinkSegment(name);
    throw err;
  }
}

const napCell = new Int32Array(new SharedArrayBuffer(4));
function nap(ms: number): void {
  Atomics.wait(napCell, 0, 0, ms);
}

/** Checks one mapping of `name`: its header if ready, 'retry' if its creator is not done. */
function inspect(segment: MappedSegment, name: string, kind: KindCode): ReturnType<typeof readHeader> | 'retry' {
  if (segment.size < HEADER_SIZE || hasForeignMagic(segment.buffer)) {
    throw new ShmError(ErrorCodes.FORMAT, `${JSON.stringify(name)} is not a shmkit object (${segment.size} bytes, no SHMK header)`);
  }
  const header = new Int32Array(segment.buffer, 0, HEADER_SIZE / 4);
  if (Atomics.load(header, Word.state) !== State.ready) return 'retry';
  return readHeader(segment.buffer, name, kind);
}

/**
 * Opens a typed object by name, discovering dtype and length from its
 * header. Waits up to `timeoutMs` for a creator that is still initialising.
 * @throws {ShmError} ENOENT, ERR_SHM_FORMAT, ERR_SHM_VERSION
 */
export function openTyped(name: string, kind: KindCode, timeoutMs: number, keepFd = false): TypedSegment {
  const deadline = Date.now() + timeoutMs;
  const what = JSON.stringify(name);
  for (;;) {
    const expired = Date.now() >= deadline;
    let found: { header: ReturnType<typeof readHeader>; owner: { token: number; liveness: number } } | undefined;
    let removed = false;
    let segment: MappedSegment;
    try {
      segment = openSegment(
        name,
        (fd, seg) => {
          const header = inspect(seg, name, kind);
          if (header === 'retry') return;
          const owner = takeToken(fd, seg);
          if (stillNamed(name, seg)) found = { header, owner };
          else {
            native.livenessRelease(owner.liveness);
            removed = true;
          }
        },
        keepFd,
      );
    } catch (err) {
      // Size 0: the creator is between shm_open and allocation.
      if (!(err instanceof ShmError) || err.code !== ErrorCodes.EMPTY_SEGMENT) throw err;
      if (expired) throw new ShmError(ErrorCodes.FORMAT, `${what} has size 0: not a shmkit object, or its creator never sized it (waited ${timeoutMs} ms)`);
      nap(1);
      continue;
    }
    if (found) {
      segment.what = kindName(kind);
      trace('open', segment.what, name, `${found.header.count} ${found.header.dtype.name}`);
      return new TypedSegment(segment, found.owner, found.header.dtype, found.header.count);
    }
    segment.close();
    if (removed) {
      // Removed (by gc, or unlinked) between our open and our token: the name now is gone or another object's.
      trace('open', kindName(kind), name, 'removed while opening: opening the name again');
      continue;
    }
    if (expired) {
      throw new ShmError(
        ErrorCodes.FORMAT,
        `${what} was not marked ready within ${timeoutMs} ms: not a shmkit object, or its creator died (or is still) initialising it`,
      );
    }
    nap(1);
  }
}

// Creating and opening the self-describing segments that typed objects live
// in. A creator fills the header and data, then publishes `state = ready`; an
// opener waits (briefly) for that, so it never sees a half-made object.
//
// Every handle also gets a lock-owner token from the header's counter, backed
// by a liveness lock the kernel drops when the process dies (native/sys/liveness),
// so locks in the segment can tell a dead holder from a live one.

import { trace } from './debug.js';
import type { DTypeInfo, SharedTypedArray } from './dtypes.js';
import { ErrorCodes, ShmError } from './errors.js';
import { HEADER_SIZE, hasForeignMagic, type KindCode, kindName, MAGIC, Offset, readHeader, State, Word, writeHeader } from './format.js';
import { forgetAtExit, type Member } from './lifetime.js';
import { native } from './native.js';
import {
  acquireToken,
  createSegment,
  MAX_MAPPING_BYTES,
  type MappedSegment,
  nameLeadsTo,
  nap,
  openSegment,
  peekSegment,
  releaseToken,
  unlinkSegment,
} from './segment.js';

/** How long open() waits by default for a creator to finish initialising. */
export const DEFAULT_OPEN_TIMEOUT_MS = 1000;

/** A handle's token and how many locks (and Queue views) it holds with it now. */
interface Holdings {
  readonly liveness: number;
  readonly name: string;
  /** The object's identity (segment.ts keeps the tokens held per object). */
  readonly identity: string;
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
  releaseToken(holdings.identity, holdings.liveness);
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
    this.#holdings = { liveness: owner.liveness, name: segment.name, identity: segment.identity, count: 0 };
    dropped.register(this, this.#holdings, this);
  }

  /** What a Scope and `unlinkOnExit` need of a handle on this segment; `close` closes that handle. */
  member(close: () => void): Member {
    const typed = this;
    return {
      name: this.segment.name,
      namespace: 'segment',
      identity: this.segment.identity,
      what: this.segment.what,
      tokens: true,
      token: () => (typed.closed ? undefined : typed.token),
      get closed() {
        return typed.closed;
      },
      close,
    };
  }

  get closed(): boolean {
    return this.segment.closed;
  }

  get name(): string {
    return this.segment.name;
  }

  /** True if the handle owning `token` is still open in a live process. */
  isAlive(token: number): boolean {
    return native.livenessAlive(this.liveness, token, this.segment.name);
  }

  hold(delta: 1 | -1): void {
    this.#holdings.count += delta;
  }

  /** Drops the token (a lock this handle still holds reads as its owner dead) and unmaps. */
  close(): void {
    if (this.segment.closed) return;
    dropped.unregister(this);
    releaseToken(this.segment.identity, this.liveness);
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

/** Takes a fresh token from the header's counter, and its liveness lock, through `fd`. */
function takeToken(fd: number, segment: MappedSegment): { token: number; liveness: number } {
  const header = new Int32Array(segment.buffer, 0, HEADER_SIZE / 4);
  return acquireToken(fd, segment, () => tokenFromCounter(Atomics.add(header, Word.tokenCounter, 1)));
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
  const segment = createSegment(name, HEADER_SIZE + count * dtype.bytes, mode, {
    // Taken before the header is written: an opener waits for `ready`, gc for a whole header.
    withFd: (fd, seg) => {
      owner = takeToken(fd, seg);
    },
    keepFd,
    what: kindName(kind),
  });
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
          // Removed (by gc, a Scope, or unlinked) after our open, before our token?
          if (nameLeadsTo(name, seg.identity)) found = { header, owner };
          else {
            releaseToken(seg.identity, owner.liveness);
            removed = true;
          }
        },
        keepFd,
        kindName(kind),
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

/**
 * Removes `name` if it is a shmkit object of `kind` (whatever its format
 * version), or the object `own` (a handle's identity: its own object is
 * removed even if something overwrote its header). Anything else is
 * ERR_SHM_FORMAT and nothing is removed: `Value.unlink` used to remove a
 * Queue of that name without a word.
 * @throws {ShmError} ENOENT, ERR_SHM_FORMAT
 */
export function unlinkTyped(name: string, kind: KindCode, own?: string): void {
  const what = kindName(kind);
  // A creator between shm_open and writing the header: its kind is known within moments.
  const deadline = Date.now() + DEFAULT_OPEN_TIMEOUT_MS;
  for (let attempt = 1; ; attempt++) {
    const peeked = peekSegment(name, HEADER_SIZE, what);
    if (own === undefined || peeked.identity !== own) {
      const problem = kindProblem(peeked.head, kind);
      if (problem === WAIT && Date.now() < deadline) {
        nap(1);
        continue;
      }
      if (problem !== undefined) {
        throw new ShmError(
          ErrorCodes.FORMAT,
          `${JSON.stringify(name)} ${problem}: ${what}.unlink removes a ${what} only, and removed nothing (SharedMemory.unlink, or \`shmkit rm\`, removes any name)`,
        );
      }
    }
    // The name may have been removed and taken again since we looked: remove only what we looked at.
    if (nameLeadsTo(name, peeked.identity) || attempt >= 10) {
      unlinkSegment(name);
      forgetAtExit({ namespace: 'segment', identity: peeked.identity, name });
      return;
    }
  }
}

const WAIT = 'has no shmkit header (not a shmkit object, or its creator died making it)';

/** Why these first bytes are not those of a shmkit object of `kind`, or undefined; WAIT if nothing is written yet (a creator may be at work). */
function kindProblem(head: Uint8Array, kind: KindCode): string | undefined {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length === 0) return WAIT;
  if (head.length < 8) return `is not a shmkit object (${head.length} bytes)`;
  const magic = view.getUint32(Offset.magic, true);
  if (magic === 0) return WAIT;
  if (magic !== MAGIC) return "is not a shmkit object (a raw SharedMemory, or another program's segment)";
  const found = view.getUint8(Offset.kind);
  return found === kind ? undefined : `is a ${kindName(found)}, not a ${kindName(kind)}`;
}

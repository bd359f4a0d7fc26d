// The one place that turns a name into mapped memory. SharedMemory and the
// typed objects both stand on it; nothing else calls shm_open or mmap.
import { constants as bufferConstants } from 'node:buffer';
import { trace } from './debug.js';
import { ErrorCodes, existsError, fromNative, hasCode, missingError, ShmError } from './errors.js';
import { systemName } from './names.js';
import { type MappingHandle, native } from './native.js';

/** A mapped segment. close() detaches `buffer` and unmaps, exactly once. */
export class MappedSegment {
  readonly name: string;
  readonly size: number;
  readonly buffer: ArrayBuffer;
  /**
   * The object's identity in this process: the same for every handle of one
   * object (its file's device and inode), unique to this mapping where the
   * system gives no inode.
   */
  readonly identity: string;
  /** What the segment holds, for NODE_DEBUG lines ('SharedMemory', or a shmkit kind). */
  what = 'SharedMemory';
  #handle: MappingHandle;
  #closed = false;
  readonly #onClose = new Set<() => void>();
  /** The open file, for a segment that grows (kept open: its name may be unlinked meanwhile); closed with it. */
  readonly fd: number | undefined;

  constructor(name: string, size: number, buffer: ArrayBuffer, handle: MappingHandle, fileId: string, fd?: number) {
    this.name = name;
    this.size = size;
    this.buffer = buffer;
    this.#handle = handle;
    this.identity = fileId === '' ? `mapping ${++mappingsWithoutInode}` : fileId;
    this.fd = fd;
  }

  /** The addon's handle of the mapping, for native functions that work on it (rings). */
  get handle(): MappingHandle {
    return this.#handle;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs `listener` when close() starts, while the memory is still mapped
   * (waits shared between handles end those of this one). Returns its removal.
   */
  onClose(listener: () => void): () => void {
    this.#onClose.add(listener);
    return () => this.#onClose.delete(listener);
  }

  close(): void {
    if (this.#closed) return;
    for (const listener of this.#onClose) listener();
    this.#onClose.clear();
    this.#closed = true;
    if (this.fd !== undefined) closeQuietly(this.fd);
    native.unmap(this.#handle, this.buffer);
    trace('close', this.what, this.name);
  }

  /**
   * An ArrayBuffer of its own over bytes [offset, offset + length) of the
   * segment (the caller checks the range): detach() it to cut it off; close()
   * detaches every one still alive before unmapping.
   */
  view(offset: number, length: number): ArrayBuffer {
    return native.view(this.#handle, offset, length);
  }

  /** Maps the pages of [offset, offset + length) into this process now (Linux 5.14+; elsewhere they fault in at first touch). */
  populate(offset: number, length: number): void {
    native.populate(this.#handle, offset, length);
  }
}

/** Cuts a view() off its memory: it drops to length 0, as views of a closed segment do. */
export function detachView(buffer: ArrayBuffer): void {
  native.detach(buffer);
}

/**
 * The largest segment this Node can map as one ArrayBuffer (4 GiB on Node
 * 20; far more on Node 22+). Larger sizes are ERR_SHM_INVALID_SIZE before
 * anything is created or mapped.
 */
export const MAX_MAPPING_BYTES = bufferConstants.MAX_LENGTH;

let mappingsWithoutInode = 0;

function checkMappable(name: string, size: number, what: string): void {
  if (size > MAX_MAPPING_BYTES) {
    throw new ShmError(
      ErrorCodes.INVALID_SIZE,
      `${what} ${JSON.stringify(name)} is ${size} bytes; this Node (${process.version}) maps at most ${MAX_MAPPING_BYTES} bytes as one ArrayBuffer`,
    );
  }
}

function closeQuietly(fd: number): void {
  try {
    native.closeFd(fd);
  } catch {
    // The mapping (if any) no longer needs the descriptor; nothing to report.
  }
}

/** What createSegment does besides creating. */
export interface CreateSegmentOptions {
  /** Runs once the segment is sized and mapped, while the descriptor is open. */
  withFd?: (fd: number, segment: MappedSegment) => void;
  /** Keep the descriptor open with the segment (a segment that grows). */
  keepFd?: boolean;
  /** The kind being made, for the EEXIST message ('Queue'; default 'SharedMemory'). */
  what?: string;
  /**
   * Runs right after the name is created, before it has a size: a segment
   * with no header (a SharedMemory) takes its liveness token here, since
   * anyone may attach to it as soon as it is sized.
   */
  beforeSizing?: (fd: number, identity: string) => void;
}

/**
 * Creates `name` exclusively (O_CREAT|O_EXCL) with exactly `mode`, reserves
 * `size` bytes and maps them. On any failure after creation the name is
 * unlinked again, so a failed create leaves nothing behind.
 */
export function createSegment(name: string, size: number, mode: number, options: CreateSegmentOptions = {}): MappedSegment {
  const { withFd, keepFd = false, what = 'SharedMemory', beforeSizing } = options;
  checkMappable(name, size, 'a new segment');
  const path = systemName(name);
  let fd: number;
  try {
    fd = native.shmOpen(path, true, true, mode);
  } catch (err) {
    const error = fromNative(err, `creating ${name}`);
    throw error.code === 'EEXIST' ? existsError(error, what, name, what === 'SharedMemory' ? 'new SharedMemory' : undefined) : error;
  }
  let segment: MappedSegment | undefined;
  // What the native calls were doing, for their errors' messages; undefined once they are done.
  let step: string | undefined = `creating ${name}`;
  try {
    native.fchmod(fd, mode);
    beforeSizing?.(fd, native.fileId(fd));
    step = `sizing ${name} to ${size} bytes`;
    native.allocate(fd, size);
    step = `mapping ${name}`;
    const [buffer, handle] = native.map(fd, size);
    segment = new MappedSegment(name, size, buffer, handle, native.fileId(fd), keepFd ? fd : undefined);
    step = undefined;
    withFd?.(fd, segment);
    return segment;
  } catch (err) {
    segment?.close();
    try {
      native.shmUnlink(path);
    } catch {
      // Already gone (someone unlinked it): nothing left to clean.
    }
    throw step === undefined ? err : fromNative(err, step);
  } finally {
    // A kept descriptor is the segment's now (closed with it, also on the failure above).
    if (!keepFd || segment === undefined) closeQuietly(fd);
  }
}

/**
 * Opens an existing segment and maps all of it; the size comes from fstat,
 * so a mapping never reaches past the end of the segment (no SIGBUS).
 * `withFd` runs while the descriptor is still open (to take a liveness lock
 * through it); if it throws, the mapping is closed again.
 */
export function openSegment(name: string, withFd?: (fd: number, segment: MappedSegment) => void, keepFd = false, what = 'SharedMemory'): MappedSegment {
  const fd = openExisting(name, 'opening', (error) => missingError(error, what, name));
  let kept = false;
  try {
    const size = native.fstatSize(fd);
    if (size === 0) {
      throw new ShmError(ErrorCodes.EMPTY_SEGMENT, `segment ${JSON.stringify(name)} has size 0 (not sized by its creator yet?)`);
    }
    checkMappable(name, size, 'segment');
    const segment = mapWhole(name, fd, size, keepFd);
    kept = keepFd;
    try {
      withFd?.(fd, segment);
    } catch (err) {
      segment.close();
      throw err;
    }
    return segment;
  } finally {
    if (!kept) closeQuietly(fd);
  }
}

/**
 * Opens the existing segment `name` (read-write) for a step `doing` of the
 * caller ('opening', 'removing'): its descriptor, else the step's ShmError,
 * `missing`'s for ENOENT.
 */
function openExisting(name: string, doing: string, missing: (error: ShmError) => ShmError): number {
  try {
    return native.shmOpen(systemName(name), false, false, 0);
  } catch (err) {
    const error = fromNative(err, `${doing} ${name}`);
    throw error.code === 'ENOENT' ? missing(error) : error;
  }
}

/** Maps all `size` bytes of the open `fd` of `name`. */
function mapWhole(name: string, fd: number, size: number, keepFd: boolean): MappedSegment {
  try {
    const [buffer, handle] = native.map(fd, size);
    return new MappedSegment(name, size, buffer, handle, native.fileId(fd), keepFd ? fd : undefined);
  } catch (err) {
    throw fromNative(err, `mapping ${name}`);
  }
}

/** shm_unlink(name). The memory stays mapped wherever it is open. */
export function unlinkSegment(name: string): void {
  try {
    native.shmUnlink(systemName(name));
  } catch (err) {
    throw fromNative(err, `unlinking ${name}`);
  }
  trace('unlink', 'segment', name);
}

// Liveness tokens (docs/design.md, "Owner liveness"): every handle of a
// shmkit object, and on Linux every SharedMemory handle, holds one, a lock
// on its file that the kernel drops when the process dies. `shmkit gc` and
// a Scope remove an object only while no token is held (livenessExclude).

/**
 * How long taking a token waits at most for `shmkit gc` or a Scope, which
 * hold a lock over every token's byte while they decide whether to remove an
 * object (for microseconds: a header read and an unlink). Only a remover
 * stopped halfway (SIGSTOP, a debugger) holds it longer.
 */
const REMOVER_WAIT_MS = 1000;
const MAX_TOKEN_ATTEMPTS = 64;

/**
 * Takes a token from `next()` and its liveness lock through `fd`: the
 * addon's id of the lock, and the token. Tries another token while one is
 * held by a live handle (after a counter wrapped, or a random pick that
 * collided).
 */
export function acquireToken(
  fd: number,
  segment: { readonly name: string; readonly identity: string },
  next: () => number,
): { token: number; liveness: number } {
  const deadline = Date.now() + REMOVER_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    const token = next();
    try {
      const liveness = native.livenessAcquire(fd, token, segment.name);
      noteToken(segment.identity, liveness, token);
      return { token, liveness };
    } catch (err) {
      if (!(err instanceof ShmError)) throw err;
      if (err.code === 'EBUSY') {
        // A remover is deciding: once it lets go the object is there or
        // removed (the opener then looks at the name again: nameLeadsTo).
        if (Date.now() >= deadline) {
          throw new ShmError(
            ErrorCodes.TIMEOUT,
            `${JSON.stringify(segment.name)}: another process held a lock over all of its liveness bytes for ${REMOVER_WAIT_MS} ms (shmkit gc and a Scope hold one for a moment while they decide whether to remove an object)`,
          );
        }
        nap(1);
        continue;
      }
      // EAGAIN: a live handle holds this token.
      if (err.code !== 'EAGAIN' || attempt >= MAX_TOKEN_ATTEMPTS) throw err;
    }
  }
}

/** Drops a token taken with acquireToken. */
export function releaseToken(identity: string, liveness: number): void {
  forgetToken(identity, liveness);
  native.livenessRelease(liveness);
}

/** Per object (its identity), the tokens this environment's handles hold: liveness id -> token. */
const heldTokens = new Map<string, Map<number, number>>();

function noteToken(identity: string, liveness: number, token: number): void {
  let tokens = heldTokens.get(identity);
  if (tokens === undefined) {
    tokens = new Map();
    heldTokens.set(identity, tokens);
  }
  tokens.set(liveness, token);
}

/** The token `liveness` is no longer held (released, or about to be). */
export function forgetToken(identity: string, liveness: number): void {
  const tokens = heldTokens.get(identity);
  if (tokens === undefined) return;
  tokens.delete(liveness);
  if (tokens.size === 0) heldTokens.delete(identity);
}

/** The tokens this environment's handles of the object `identity` hold now. */
export function tokensHeld(identity: string): number[] {
  return [...(heldTokens.get(identity)?.values() ?? [])];
}

/**
 * True if `name` still leads to the object `identity` (a file's
 * "dev:ino"), asked by opening the name again (not by a path in /dev/shm:
 * the name resolves as the first open resolved it, wherever the C library
 * keeps segments). False if the name is gone or another object's. An
 * identity of '' (no inodes here) cannot be compared: true.
 *
 * `shmkit gc` and a Scope remove an object only while no handle holds a
 * token (they lock them all first), so an opener that holds its token and
 * then finds the name still leads to its file has an object no remover can
 * take from under it; one that finds otherwise opened an object removed
 * meanwhile, and opens the name again. The inode cannot have been reused
 * while the caller's mapping (or descriptor) keeps the file.
 */
export function nameLeadsTo(name: string, identity: string): boolean {
  let fd: number;
  try {
    fd = native.shmOpen(systemName(name), false, false, 0);
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return false;
    throw fromNative(err, `opening ${name}`);
  }
  try {
    const now = native.fileId(fd);
    return identity === '' || now === '' || now === identity;
  } catch (err) {
    throw fromNative(err, `opening ${name}`);
  } finally {
    closeQuietly(fd);
  }
}

/** What the first bytes of the object `name` say, read without taking a token: for the kind check of `X.unlink(name)`. */
export interface Peeked {
  identity: string;
  size: number;
  /** The first bytes (up to `bytes`). */
  head: Uint8Array;
}

/** Opens `name`, reads its first `bytes` bytes (fewer if it is shorter) and its identity, and closes it. */
export function peekSegment(name: string, bytes: number, what: string): Peeked {
  const fd = openExisting(
    name,
    'removing',
    (error) => new ShmError(error.code, `ENOENT: no ${what} named ${JSON.stringify(name)} to remove`, { errno: error.errno, syscall: error.syscall }),
  );
  try {
    const size = native.fstatSize(fd);
    const identity = native.fileId(fd);
    const length = Math.min(size, bytes);
    if (length === 0) return { identity, size, head: new Uint8Array(0) };
    const [buffer, handle] = native.map(fd, length);
    try {
      return { identity, size, head: new Uint8Array(buffer).slice() };
    } finally {
      native.unmap(handle, buffer);
    }
  } catch (err) {
    throw fromNative(err, `removing ${name}`);
  } finally {
    closeQuietly(fd);
  }
}

const napCell = new Int32Array(new SharedArrayBuffer(4));
/** Sleeps this thread for `ms` (a short pause between tries). */
export function nap(ms: number): void {
  Atomics.wait(napCell, 0, 0, ms);
}

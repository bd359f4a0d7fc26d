// The one place that turns a name into mapped memory. SharedMemory and the
// typed objects both stand on it; nothing else calls shm_open or mmap.
import { constants as bufferConstants } from 'node:buffer';
import { trace } from './debug.js';
import { ErrorCodes, ShmError, sys } from './errors.js';
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
    sys(() => native.unmap(this.#handle, this.buffer));
    trace('close', this.what, this.name);
  }

  /**
   * An ArrayBuffer of its own over bytes [offset, offset + length) of the
   * segment (the caller checks the range): detach() it to cut it off; close()
   * detaches every one still alive before unmapping.
   */
  view(offset: number, length: number): ArrayBuffer {
    return sys(() => native.view(this.#handle, offset, length));
  }

  /** Maps the pages of [offset, offset + length) into this process now (Linux 5.14+; elsewhere they fault in at first touch). */
  populate(offset: number, length: number): void {
    sys(() => native.populate(this.#handle, offset, length));
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

/**
 * Creates `name` exclusively (O_CREAT|O_EXCL) with exactly `mode`, reserves
 * `size` bytes and maps them. On any failure after creation the name is
 * unlinked again, so a failed create leaves nothing behind.
 */
export function createSegment(name: string, size: number, mode: number, withFd?: (fd: number, segment: MappedSegment) => void, keepFd = false): MappedSegment {
  checkMappable(name, size, 'a new segment');
  const path = systemName(name);
  const fd = sys(() => native.shmOpen(path, true, true, mode), `creating ${name}`);
  let segment: MappedSegment | undefined;
  try {
    sys(() => native.fchmod(fd, mode), `creating ${name}`);
    sys(() => native.allocate(fd, size), `sizing ${name} to ${size} bytes`);
    const [buffer, handle] = sys(() => native.map(fd, size), `mapping ${name}`);
    segment = new MappedSegment(
      name,
      size,
      buffer,
      handle,
      sys(() => native.fileId(fd), `creating ${name}`),
      keepFd ? fd : undefined,
    );
    withFd?.(fd, segment);
    return segment;
  } catch (err) {
    segment?.close();
    try {
      native.shmUnlink(path);
    } catch {
      // Already gone (someone unlinked it): nothing left to clean.
    }
    throw err;
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
export function openSegment(name: string, withFd?: (fd: number, segment: MappedSegment) => void, keepFd = false): MappedSegment {
  const path = systemName(name);
  const fd = sys(() => native.shmOpen(path, false, false, 0), `opening ${name}`);
  let kept = false;
  try {
    const size = sys(() => native.fstatSize(fd), `opening ${name}`);
    if (size === 0) {
      throw new ShmError(ErrorCodes.EMPTY_SEGMENT, `segment ${JSON.stringify(name)} has size 0 (not sized by its creator yet?)`);
    }
    checkMappable(name, size, 'segment');
    const [buffer, handle] = sys(() => native.map(fd, size), `mapping ${name}`);
    const segment = new MappedSegment(
      name,
      size,
      buffer,
      handle,
      sys(() => native.fileId(fd), `opening ${name}`),
      keepFd ? fd : undefined,
    );
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

/** shm_unlink(name). The memory stays mapped wherever it is open. */
export function unlinkSegment(name: string): void {
  sys(() => native.shmUnlink(systemName(name)), `unlinking ${name}`);
  trace('unlink', 'segment', name);
}

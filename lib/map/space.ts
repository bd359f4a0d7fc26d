// A map's memory in this process. Its file grows while processes use it
// (never shrinks), so beside the first mapping, where the header, control
// words and stripes live (locks and waits stay on it), there is a mapping of
// the whole file, made again when a ref points past it.
import { ErrorCodes, fromNative, ShmError } from '../core/errors.js';
import { type MappingHandle, native } from '../core/native.js';
import { MAX_MAPPING_BYTES } from '../core/segment.js';
import type { TypedSegment } from '../core/typed-segment.js';

export class MapSpace {
  /** Words of the first mapping (control block and stripes): stable for the handle's life. */
  readonly control: Int32Array;
  /** The whole file as this process maps it now: replaced when the file grew (re-read after anything that may grow it). */
  i32: Int32Array;
  f64: Float64Array;
  bytes: Buffer;
  readonly #typed: TypedSegment;
  /** A mapping this space made itself (the file grew past the first one), unmapped when replaced. */
  #own: { buffer: ArrayBuffer; handle: MappingHandle } | undefined;

  /** The first ref of the heap: refs read from memory are checked against it and the file's end before use. */
  readonly heapStart: number;

  constructor(typed: TypedSegment, controlWords: number, heapStart: number) {
    this.#typed = typed;
    this.heapStart = heapStart;
    this.control = new Int32Array(typed.segment.buffer, 0, controlWords);
    const buffer = typed.segment.buffer;
    this.i32 = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
    this.f64 = new Float64Array(buffer, 0, buffer.byteLength >>> 3);
    this.bytes = Buffer.from(buffer);
  }

  /** Bytes mapped now. */
  get mapped(): number {
    return this.bytes.length;
  }

  /**
   * Makes refs below `endRef` addressable, mapping the file again if another
   * process grew it. False if the file is not that large (a ref read while
   * it was being rewritten, or corrupt).
   */
  reach(endRef: number): boolean {
    const bytes = endRef * 8;
    if (bytes <= this.bytes.length) return true;
    const fd = this.#typed.segment.fd as number;
    let size: number;
    let mapped: [ArrayBuffer, MappingHandle];
    try {
      size = native.fstatSize(fd);
      if (size < bytes || size > MAX_MAPPING_BYTES) return false;
      mapped = native.map(fd, size);
    } catch (err) {
      throw fromNative(err, `mapping ${this.#typed.name} again`);
    }
    const [buffer, handle] = mapped;
    this.#release();
    this.#own = { buffer, handle };
    this.i32 = new Int32Array(buffer, 0, size >>> 2);
    this.f64 = new Float64Array(buffer, 0, size >>> 3);
    this.bytes = Buffer.from(buffer);
    return true;
  }

  /** True if `ref` (read from shared memory) is in the heap and `units` from it are mapped (see reach). */
  holds(ref: number, units: number): boolean {
    return ref >= this.heapStart && this.reach(ref + units);
  }

  /** Extends the file to `endRef` refs (the caller holds the allocator's lock), then maps it. @throws ERR_SHM_MAP_FULL */
  grow(endRef: number): void {
    const fd = this.#typed.segment.fd as number;
    try {
      native.allocate(fd, endRef * 8);
    } catch (err) {
      const cause = err as { code?: string; message?: string };
      throw new ShmError(ErrorCodes.MAP_FULL, `${this.#typed.name} could not grow to ${endRef * 8} bytes: ${cause.message ?? String(err)}`, { cause: err });
    }
    if (!this.reach(endRef)) throw new ShmError(ErrorCodes.MAP_FULL, `${this.#typed.name} grew to ${endRef * 8} bytes but cannot be mapped that large`);
  }

  close(): void {
    this.#release();
    this.i32 = new Int32Array(0);
    this.f64 = new Float64Array(0);
    this.bytes = Buffer.alloc(0);
  }

  #release(): void {
    const own = this.#own;
    if (own === undefined) return;
    this.#own = undefined;
    native.unmap(own.handle, own.buffer);
  }
}

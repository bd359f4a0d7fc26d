// What every named object that lives in a typed segment shares: its name,
// close (idempotent, never unlinks), unlink, `using`, and the closed check.
import { ErrorCodes, ShmError } from './errors.js';
import { normalizeName } from './names.js';
import { unlinkSegment } from './segment.js';
import type { TypedSegment } from './typed-segment.js';

export abstract class SegmentHandle implements Disposable {
  protected readonly typed: TypedSegment;

  protected constructor(typed: TypedSegment) {
    this.typed = typed;
  }

  /** Removes the name `name` without opening it. @throws {ShmError} ENOENT, ERR_SHM_INVALID_NAME */
  static unlink(name: string): void {
    unlinkSegment(normalizeName(name));
  }

  /** The name, without a leading slash. */
  get name(): string {
    return this.typed.segment.name;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.typed.closed;
  }

  /**
   * Closes this handle: unmaps its memory (views of it drop to length 0) and
   * drops its lock-owner token. Idempotent; does not unlink.
   */
  close(): void {
    this.typed.close();
  }

  /** Removes the name; processes that have it open keep working. @throws {ShmError} ENOENT */
  unlink(): void {
    unlinkSegment(this.typed.segment.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  protected checkOpen(): void {
    if (this.typed.closed) throw new ShmError(ErrorCodes.CLOSED, `${this.constructor.name} ${JSON.stringify(this.name)} is closed`);
  }
}

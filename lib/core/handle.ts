// What every named object that lives in a typed segment shares: its name,
// close (idempotent, never unlinks), unlink, `using`, and the closed check.
import { ErrorCodes, invalidArg, ShmError } from './errors.js';
import { normalizeName } from './names.js';
import { unlinkSegment } from './segment.js';
import type { TypedSegment } from './typed-segment.js';

export abstract class SegmentHandle implements Disposable {
  /** @internal */
  protected readonly typed: TypedSegment;
  /** False for a lock that lives in another object's segment (a Value's `.lock`): that object closes it. */
  readonly #owns: boolean;
  /** Run by close() before unmapping, for waits that must tidy shared state (a Barrier party leaving). */
  readonly #beforeClose = new Set<() => void>();

  protected constructor(typed: TypedSegment, owns = true) {
    this.typed = typed;
    this.#owns = owns;
  }

  /** Removes the name `name` without opening it. @throws {ShmError} ENOENT, ERR_SHM_INVALID_NAME */
  static unlink(name: string): void {
    unlinkSegment(normalizeName(name));
  }

  /** The name, without a leading slash. */
  get name(): string {
    return this.typed.segment.name;
  }

  /** True once `close()` has run (for a Value's or Array's `.lock`: once that object closed). */
  get closed(): boolean {
    return this.typed.closed;
  }

  /**
   * Closes this handle: every wait of it still pending ends with
   * `ERR_SHM_CLOSED`, its memory is unmapped (views of it drop to length 0),
   * and its lock-owner token is dropped (a lock it holds reads as its owner
   * died). Idempotent; does not unlink.
   */
  close(): void {
    if (!this.#owns || this.typed.closed) return;
    for (const tidy of this.#beforeClose) tidy();
    this.#beforeClose.clear();
    this.typed.close();
  }

  /** Removes the name; processes that have it open keep working. @throws {ShmError} ENOENT */
  unlink(): void {
    if (!this.#owns) throw invalidArg(`this ${this.constructor.name} belongs to another object: unlink that object`);
    unlinkSegment(this.typed.segment.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal The error a wait of a closed handle ends with. */
  closedError(): ShmError {
    return new ShmError(ErrorCodes.CLOSED, `${this.constructor.name} ${JSON.stringify(this.name)} is closed`);
  }

  protected checkOpen(): void {
    if (this.typed.closed) throw this.closedError();
  }

  /**
   * Runs `body` with `tidy` registered to run if this handle is closed
   * meanwhile, before its memory goes (shared state it must leave right).
   */
  protected async withTidy<T>(tidy: () => void, body: () => Promise<T>): Promise<T> {
    this.#beforeClose.add(tidy);
    try {
      return await body();
    } finally {
      this.#beforeClose.delete(tidy);
    }
  }
}

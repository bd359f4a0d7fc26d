// What every named object that lives in a typed segment shares: its name,
// close (idempotent, never unlinks), unlink (of its own kind only), `using`,
// the closed check, and what a Scope needs of it.
import type { InspectOptionsStylized } from 'node:util';
import { ErrorCodes, invalidArg, ShmError } from './errors.js';
import { type KindCode, kindName } from './format.js';
import { INSPECT, type Inspect, inspectHandle } from './inspect.js';
import { MEMBER, type Member } from './lifetime.js';
import { normalizeName } from './names.js';
import { type HandleDescription, TRANSFER } from './transfer.js';
import { type TypedSegment, unlinkTyped } from './typed-segment.js';

export abstract class SegmentHandle implements Disposable {
  /** @internal The kind this class creates and opens: its `unlink` removes that kind only. */
  protected static readonly kindCode: KindCode;

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

  /**
   * Removes the name `name` if it is an object of this class's kind; a
   * process that has it open keeps working.
   * @throws {ShmError} ENOENT, ERR_SHM_INVALID_NAME; ERR_SHM_FORMAT if the name is another kind of object (nothing is removed; `SharedMemory.unlink` removes any name)
   */
  static unlink(name: string): void {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class it is called on (Value.unlink removes Values)
    unlinkTyped(normalizeName(name), (this as unknown as { kindCode: KindCode }).kindCode);
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

  /**
   * Removes the name; processes that have it open keep working. If the name
   * leads to another object now (this one was removed and the name taken
   * again), that one is removed only if it is of this kind.
   * @throws {ShmError} ENOENT; ERR_SHM_FORMAT if the name is another kind of object now
   */
  unlink(): void {
    if (!this.#owns) throw invalidArg(`this ${this.constructor.name} belongs to another object: unlink that object`);
    const kind = (this.constructor as unknown as { kindCode: KindCode }).kindCode;
    unlinkTyped(this.typed.segment.name, kind, this.typed.segment.identity);
  }

  /** @internal What a Scope and `unlinkOnExit` need of this handle. */
  [MEMBER](): Member {
    if (!this.#owns) throw invalidArg(`this ${this.constructor.name} belongs to another object: hand that object to the Scope`);
    return this.typed.member(() => this.close());
  }

  /** @internal How this handle crosses to another process (lib/core/transfer.ts): its kind and name. */
  [TRANSFER](): HandleDescription {
    if (!this.#owns) {
      throw invalidArg(
        `this ${this.constructor.name} belongs to another object (a Value's, Array's or Condition's lock): pass that object to the other process`,
      );
    }
    return { kind: kindName((this.constructor as unknown as { kindCode: KindCode }).kindCode), name: this.typed.segment.name };
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** What util.inspect prints (lib/core/inspect.ts). */
  [INSPECT](depth: number, options: InspectOptionsStylized, inspect: Inspect): string {
    return inspectHandle(this, () => this.inspectState(), depth, options, inspect);
  }

  /** @internal This handle's short state for util.inspect, read only while it is open. */
  protected inspectState(): Record<string, unknown> {
    return {};
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

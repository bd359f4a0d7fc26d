// Zero-copy messages: a MessageView is a received message read where it lies
// in the ring, a Slot is room reserved in the ring for a message written in
// place. Both hand out `bytes`, a Uint8Array over an ArrayBuffer of its own
// (MappedSegment.view), which is detached the moment the ring may reuse the
// memory (release, commit, dispose, close): a stale `bytes` has length 0 and
// can never read another message or write into a published one.
import { invalidArg } from '../core/errors.js';
import { detachView } from '../core/segment.js';
import { checkInteger } from '../core/validate.js';

/**
 * A received message in shared memory (`Pipe#recvView`, `Queue#getView`): `bytes` are the
 * message's bytes where the sender wrote them, valid until `release()`
 * (or `using` scope end), which frees the room and detaches `bytes`.
 */
export class MessageView implements Disposable {
  readonly #bytes: Uint8Array;
  #free: (() => void) | undefined;

  /** @internal */
  constructor(bytes: Uint8Array, free: () => void) {
    this.#bytes = bytes;
    this.#free = free;
  }

  /** The message's bytes in shared memory (length 0 once released). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** True once released (by `release()`, the next receive on the same handle, or its close). */
  get released(): boolean {
    return this.#free === undefined;
  }

  /** Frees the message's room in the ring and detaches `bytes`. Idempotent. */
  release(): void {
    const free = this.#free;
    if (free === undefined) return;
    this.#free = undefined;
    detachView(this.#bytes.buffer as ArrayBuffer);
    free();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * Room for one message, reserved in the ring (`Pipe#reserve`, `Queue#reserve`): write the
 * message into `bytes`, then `commit()` publishes it (the receiver gets a
 * Buffer). Disposing, or dropping, an uncommitted slot publishes nothing.
 */
export class Slot implements Disposable {
  readonly #bytes: Uint8Array;
  #publish: ((byteLength: number) => void) | undefined;
  readonly #finish: () => void;

  /**
   * @internal `publish` sends the message; `finish` runs after a commit or
   * an abandon (a Queue's slot gives back the put lock).
   */
  constructor(bytes: Uint8Array, publish: (byteLength: number) => void, finish: () => void = () => {}) {
    this.#bytes = bytes;
    this.#publish = publish;
    this.#finish = finish;
  }

  /** Where to write the message: shared memory, `byteLength` bytes as reserved (length 0 once committed or abandoned). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** True once committed or abandoned (disposed, superseded by the next send or reserve on the same handle, closed). */
  get done(): boolean {
    return this.#publish === undefined;
  }

  /**
   * Publishes the first `byteLength` bytes (default: all reserved) as one
   * message, and detaches `bytes`.
   * @throws {ShmError} ERR_SHM_INVALID_ARG if the slot was already committed
   *   or abandoned; ERR_SHM_PIPE_CLOSED if the receiving end has gone.
   */
  commit(byteLength: number = this.#bytes.byteLength): void {
    const publish = this.#publish;
    if (publish === undefined) throw invalidArg('this slot was already committed or abandoned');
    const length = checkInteger(byteLength, 'byteLength', 0, this.#bytes.byteLength);
    this.#end();
    try {
      publish(length);
    } finally {
      this.#finish();
    }
  }

  /** Publishes nothing and detaches `bytes`. Idempotent. */
  abandon(): void {
    if (this.#publish === undefined) return;
    this.#end();
    this.#finish();
  }

  [Symbol.dispose](): void {
    this.abandon();
  }

  #end(): void {
    this.#publish = undefined;
    detachView(this.#bytes.buffer as ArrayBuffer);
  }
}

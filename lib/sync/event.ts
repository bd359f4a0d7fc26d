import { Kind } from '../core/format.js';
import type { CreateOptions, OpenOptions, OpenOrCreateOptions } from '../core/options.js';
import { type SyncKind, SyncObject, wakeAll } from './sync-object.js';
import { RETRY, type WaitOptions, type WaitPlan } from './waiting.js';

const FLAG = 0;
const WORDS = 1;

/**
 * A flag that processes wait for, by name (Python's `Event`): `set()` wakes
 * every waiter in every process; `clear()` resets it.
 */
export class Event extends SyncObject {
  readonly #plan: WaitPlan<true> = {
    attempt: () => (Atomics.load(this.words, FLAG) === 1 ? true : RETRY),
    watch: () => ({ words: this.words, index: FLAG, expected: 0 }),
    shared: this.sharedWord(FLAG, () => Infinity),
  };

  /** @internal */
  protected static override readonly kindCode = Kind.event;
  static readonly #kind: SyncKind<Event> = { code: Event.kindCode, words: WORDS, make: (typed) => new Event(typed) };

  /** Creates an Event named `name`, not set (`EEXIST` if the name exists). */
  static create(name: string, options?: CreateOptions): Event {
    return SyncObject.createObject(name, Event.#kind, { count: WORDS }, options);
  }

  /** Opens an existing Event. */
  static open(name: string, options?: OpenOptions): Event {
    return SyncObject.openObject(name, Event.#kind, options);
  }

  /** Opens the Event `name` if it exists, else creates it (not set). @throws {ShmError} ERR_SHM_FORMAT if `name` is another kind of object */
  static openOrCreate(name: string, options?: OpenOrCreateOptions): Event {
    return SyncObject.openOrCreateObject(name, Event.#kind, { count: WORDS }, options);
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    this.checkOpen();
    Atomics.store(this.words, FLAG, 1);
    wakeAll(this.words, FLAG);
  }

  /** Resets the flag; later waits block until the next `set()`. */
  clear(): void {
    this.checkOpen();
    Atomics.store(this.words, FLAG, 0);
  }

  /** True if the flag is set. */
  isSet(): boolean {
    this.checkOpen();
    return Atomics.load(this.words, FLAG) === 1;
  }

  /** @internal */
  protected override inspectState(): Record<string, unknown> {
    return { set: this.isSet() };
  }

  /**
   * Waits until the flag is set, without blocking the event loop.
   * @returns false on timeout. @throws AbortError, ShmError ERR_SHM_CLOSED
   */
  wait(options?: WaitOptions): Promise<boolean> {
    return this.waitUntil(this.#plan, options);
  }

  /** `wait` blocking this thread. */
  waitSync(options?: WaitOptions): boolean {
    return this.waitUntilSync(this.#plan, options);
  }
}

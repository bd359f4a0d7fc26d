import { Kind } from '../core/format.js';
import { SyncObject, parseWait, sleepAsync, sleepSync, wakeAll, type SyncWaitOptions } from './sync-object.js';
import type { CreateOptions, OpenOptions } from '../core/options.js';

const FLAG = 0;
const WORDS = 1;

/**
 * A flag that processes wait for, by name (Python's `Event`): `set()` wakes
 * every waiter in every process; `clear()` resets it.
 */
export class Event extends SyncObject {
  /** Creates an Event named `name`, not set (`EEXIST` if the name exists). */
  static create(name: string, options?: CreateOptions): Event {
    return new Event(SyncObject.createSegment(name, Kind.event, WORDS, options, () => {}));
  }

  /** Opens an existing Event. */
  static open(name: string, options?: OpenOptions): Event {
    return new Event(SyncObject.openSegment(name, Kind.event, WORDS, options));
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

  /** Waits until the flag is set, without blocking the event loop. @returns false on timeout. */
  async wait(options?: SyncWaitOptions): Promise<boolean> {
    this.checkOpen();
    const wait = parseWait(options);
    while (Atomics.load(this.words, FLAG) !== 1) {
      if (!(await sleepAsync(this.words, FLAG, 0, wait))) return false;
      this.checkOpen();
    }
    return true;
  }

  /** `wait` blocking this thread. */
  waitSync(options?: Omit<SyncWaitOptions, 'signal'>): boolean {
    this.checkOpen();
    const wait = parseWait(options);
    while (Atomics.load(this.words, FLAG) !== 1) {
      if (!sleepSync(this.words, FLAG, 0, wait)) return false;
    }
    return true;
  }
}

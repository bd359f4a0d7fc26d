import { ErrorCodes, ShmError } from '../core/errors.js';
import { Kind } from '../core/format.js';
import { Lock } from './lock.js';
import { SyncObject, parseWait, sleepAsync, sleepSync, wakeAll, type ParsedWait, type SyncWaitOptions } from './sync-object.js';
import type { CreateOptions, OpenOptions } from '../core/options.js';
import type { TypedSegment } from '../core/typed-segment.js';
import { checkInteger } from '../core/validate.js';

// Words of a Barrier segment. Waiters sleep on GENERATION, which moves on
// when the last party arrives and also when a generation is broken (abort,
// reset, timeout); BROKEN_GENERATION = g + 1 marks generation g as broken,
// so a woken waiter can tell the two apart.
const COUNT = 0;
const GENERATION = 1;
const BROKEN = 2;
const PARTIES = 3;
const BROKEN_GENERATION = 4;
const WORDS = 5;

/**
 * A barrier for a fixed number of parties, by name (Python's `Barrier`):
 * each `wait()` blocks until `parties` callers, in any processes, have
 * arrived, then all return at once with their arrival index (0 .. parties-1).
 * `abort()`, `reset()` and a timeout break the barrier: waiters then throw
 * `ERR_SHM_BROKEN_BARRIER`.
 */
export class Barrier extends SyncObject {
  readonly #lock: Lock;

  private constructor(typed: TypedSegment) {
    super(typed);
    this.#lock = new Lock(typed, false);
  }

  /** Creates a Barrier for `parties` parties (`EEXIST` if the name exists). */
  static create(name: string, parties: number, options?: CreateOptions): Barrier {
    const count = checkInteger(parties, 'parties', 1, 2 ** 31 - 1);
    return new Barrier(SyncObject.createSegment(name, Kind.barrier, WORDS, options, (words) => (words[PARTIES] = count)));
  }

  /** Opens an existing Barrier; `parties` comes from the segment. */
  static open(name: string, options?: OpenOptions): Barrier {
    return new Barrier(SyncObject.openSegment(name, Kind.barrier, WORDS, options));
  }

  /** How many parties must arrive. */
  get parties(): number {
    this.checkOpen();
    return Atomics.load(this.words, PARTIES);
  }

  /** How many parties are waiting now. */
  get nWaiting(): number {
    this.checkOpen();
    return Atomics.load(this.words, COUNT);
  }

  /** True while the barrier is broken (until `reset()`). */
  get broken(): boolean {
    this.checkOpen();
    return Atomics.load(this.words, BROKEN) === 1;
  }

  /**
   * Arrives and waits for the others without blocking the event loop.
   * @returns this party's arrival index, 0 .. parties-1.
   * @throws {ShmError} ERR_SHM_BROKEN_BARRIER if the barrier is or becomes broken,
   *   or the timeout passes (which breaks it for everyone).
   */
  async wait(options?: SyncWaitOptions): Promise<number> {
    this.checkOpen();
    const wait = parseWait(options);
    await this.#lock.acquire({ signal: wait.signal });
    const arrival = this.#arrive();
    while (arrival.waiting) {
      const generation = Atomics.load(this.words, GENERATION);
      if (generation !== arrival.generation) return this.#outcome(arrival);
      if (!(await this.#sleep(arrival.generation, wait))) {
        await this.#lock.acquire();
        this.#timedOut(arrival.generation);
      }
    }
    return arrival.index;
  }

  /** `wait` blocking this thread. */
  waitSync(options?: Omit<SyncWaitOptions, 'signal'>): number {
    this.checkOpen();
    const wait = parseWait(options);
    this.#lock.acquireSync();
    const arrival = this.#arrive();
    while (arrival.waiting) {
      if (Atomics.load(this.words, GENERATION) !== arrival.generation) return this.#outcome(arrival);
      if (!sleepSync(this.words, GENERATION, arrival.generation, wait)) {
        this.#lock.acquireSync();
        this.#timedOut(arrival.generation);
      }
    }
    return arrival.index;
  }

  /** Breaks the barrier: current and later waiters throw until `reset()`. */
  abort(): void {
    this.checkOpen();
    this.#lock.withLockSync(() => {
      Atomics.store(this.words, BROKEN, 1);
      this.#breakGeneration();
    });
  }

  /** Returns the barrier to empty and unbroken; parties waiting now throw ERR_SHM_BROKEN_BARRIER. */
  reset(): void {
    this.checkOpen();
    this.#lock.withLockSync(() => {
      if (Atomics.load(this.words, COUNT) > 0) this.#breakGeneration();
      Atomics.store(this.words, BROKEN, 0);
    });
  }

  /** With the lock held (and released here): counts this arrival; the last one opens the barrier. */
  #arrive(): { index: number; generation: number; waiting: boolean } {
    try {
      if (Atomics.load(this.words, BROKEN) === 1) throw brokenError('the barrier is broken');
      const generation = Atomics.load(this.words, GENERATION);
      const index = Atomics.load(this.words, COUNT);
      if (index + 1 < Atomics.load(this.words, PARTIES)) {
        Atomics.store(this.words, COUNT, index + 1);
        return { index, generation, waiting: true };
      }
      Atomics.store(this.words, COUNT, 0);
      Atomics.store(this.words, GENERATION, generation + 1);
      wakeAll(this.words, GENERATION);
      return { index, generation, waiting: false };
    } finally {
      this.#lock.release();
    }
  }

  #outcome(arrival: { index: number; generation: number }): number {
    if (Atomics.load(this.words, BROKEN_GENERATION) === arrival.generation + 1) {
      throw brokenError('the barrier was aborted or reset while this party waited');
    }
    return arrival.index;
  }

  #sleep(generation: number, wait: ParsedWait): Promise<boolean> {
    return sleepAsync(this.words, GENERATION, generation, wait);
  }

  /** With the lock held (released here): a waiter's timeout breaks its generation, if still current. */
  #timedOut(generation: number): never {
    try {
      if (Atomics.load(this.words, GENERATION) === generation) {
        Atomics.store(this.words, BROKEN, 1);
        this.#breakGeneration();
      }
    } finally {
      this.#lock.release();
    }
    throw brokenError('timed out waiting at the barrier; it is now broken');
  }

  /** With the lock held: wakes the current generation's waiters as broken. */
  #breakGeneration(): void {
    const generation = Atomics.load(this.words, GENERATION);
    Atomics.store(this.words, BROKEN_GENERATION, generation + 1);
    Atomics.store(this.words, COUNT, 0);
    Atomics.store(this.words, GENERATION, generation + 1);
    wakeAll(this.words, GENERATION);
  }
}

function brokenError(message: string): ShmError {
  return new ShmError(ErrorCodes.BROKEN_BARRIER, message);
}

// A mutual-exclusion word in shared memory, used across processes.
//
//   0                 free
//   token             held by the handle that owns `token` (1 .. 2^30-1)
//   token | WAITERS   held, and someone may be sleeping on the word
//
// Uncontended acquire and release are one JS compare-and-swap each, with no
// native call (docs/design.md, "Costs that shape the fast paths"). A
// contended acquire goes through the wait driver: it spins, sets WAITERS and
// sleeps in the kernel (futex) until a release that saw WAITERS wakes one
// sleeper. A woken waiter takes the word as `token | WAITERS`, since it
// cannot know whether others still sleep (Drepper, "Futexes Are Tricky").
//
// Holder death (docs/design.md, "Owner liveness"): every attempt after the
// first compare-and-swap checks the holder's token, and the driver's sleeps
// last at most one slice. A token is alive while its handle's liveness lock
// is held, which the kernel drops when the process dies; a dead holder's word
// is taken over with a compare-and-swap and the new holder is told
// (Acquired.OwnerDied), as with EOWNERDEAD.
import { trace } from '../core/debug.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import { LockBits } from '../core/layout.js';
import { native } from '../core/native.js';
import type { LockOwner } from '../core/typed-segment.js';
import { handOff, sharedWordKey } from './sleep-group.js';
import { type ParsedWait, RETRY, Spinner, type TimedOut, type WaitOwner, type WaitPlan, type WordSleep, waitAsync, waitSync } from './waiting.js';

export const WAITERS = LockBits.waiters;
export const OWNER_MASK = LockBits.ownerMask;

/** Longest single sleep: a dead holder is noticed within one slice. */
export const WAIT_SLICE_MS = 100;

/** Result of an acquire attempt. */
export const Acquired = {
  No: 0,
  Yes: 1,
  /** Acquired by taking over from a holder that died holding it. */
  OwnerDied: 2,
} as const;
export type Acquired = (typeof Acquired)[keyof typeof Acquired];

export class LockWord {
  readonly #words: Int32Array;
  readonly #index: number;
  readonly #owner: LockOwner;
  readonly #spinner = new Spinner();
  readonly #plan: WaitPlan<Acquired>;
  /** The word's identity in this process (sleep-group.ts). */
  readonly #key: string;

  constructor(words: Int32Array, index: number, owner: LockOwner) {
    this.#words = words;
    this.#index = index;
    this.#owner = owner;
    this.#key = sharedWordKey(owner.segment, words, index);
    this.#plan = {
      attempt: (slept) => {
        const result = this.#tryAcquire(slept ? WAITERS : 0);
        return result === Acquired.No ? RETRY : result;
      },
      watch: () => {
        const seen = Atomics.load(this.#words, this.#index);
        return seen === 0 ? RETRY : { words: this.#words, index: this.#index, expected: seen };
      },
      announce: (watched) => this.#announce(watched),
      sliceMs: WAIT_SLICE_MS,
      // A release wakes one sleeper: this process's async acquires of the
      // word queue behind one kernel wait, and a free word admits the first.
      shared: {
        key: this.#key,
        segment: owner.segment,
        admit: () => ((Atomics.load(words, index) & OWNER_MASK) === 0 ? 1 : 0),
        wakesOne: true,
        sliceMs: WAIT_SLICE_MS,
      },
    };
  }

  /** Takes the word if it is free. One compare-and-swap. */
  tryFast(): boolean {
    if (Atomics.compareExchange(this.#words, this.#index, 0, this.#owner.token) !== 0) return false;
    this.#owner.hold(1);
    return true;
  }

  /** Counts the word as held by this handle when the addon took it for it (a Queue's one-call get). */
  adopt(): void {
    this.#owner.hold(1);
  }

  /** Takes the word if it is free, or held by a dead handle. Never blocks. */
  tryAcquire(): Acquired {
    return this.#tryAcquire(0);
  }

  /** Takes the word, blocking this thread until the deadline. */
  acquireSync(owner: WaitOwner, wait: ParsedWait): Acquired | TimedOut {
    return waitSync(owner, this.#plan, wait, this.#spinner);
  }

  /** Takes the word without blocking the event loop. */
  acquire(owner: WaitOwner, wait: ParsedWait): Promise<Acquired | TimedOut> {
    return waitAsync(owner, this.#plan, wait, this.#spinner);
  }

  /** True if this handle holds the word. */
  isHeldByMe(): boolean {
    return (Atomics.load(this.#words, this.#index) & OWNER_MASK) === this.#owner.token;
  }

  /** True if anyone holds the word. */
  isLocked(): boolean {
    return Atomics.load(this.#words, this.#index) !== 0;
  }

  /** Frees the word and wakes one sleeper if any. @throws {ShmError} ERR_SHM_NOT_OWNER */
  release(): void {
    const token = this.#owner.token;
    // Uncontended: one compare-and-swap from our bare token to 0.
    if (Atomics.compareExchange(this.#words, this.#index, token, 0) === token) {
      this.#owner.hold(-1);
      return;
    }
    if (!this.isHeldByMe()) {
      throw new ShmError(ErrorCodes.NOT_OWNER, 'release() of a lock this handle does not hold');
    }
    this.#owner.hold(-1);
    if (Atomics.exchange(this.#words, this.#index, 0) & WAITERS && !handOff(this.#key)) {
      native.notify(this.#words, this.#index, 1);
    }
  }

  /** Takes the word (with `flags`) if free or its holder is dead. */
  #tryAcquire(flags: number): Acquired {
    const words = this.#words;
    const index = this.#index;
    if (Atomics.compareExchange(words, index, 0, this.#owner.token | flags) === 0) {
      this.#owner.hold(1);
      return Acquired.Yes;
    }
    const seen = Atomics.load(words, index);
    const holder = seen & OWNER_MASK;
    // A word with no holder bits but others set (only a foreign write makes one) counts as a dead holder's.
    if (holder === this.#owner.token || (holder !== 0 && this.#owner.isAlive(holder))) return Acquired.No;
    // Keep WAITERS: others may be asleep on the word and must be woken at release.
    const mine = this.#owner.token | (seen & WAITERS);
    if (Atomics.compareExchange(words, index, seen, mine) !== seen) return Acquired.No;
    this.#owner.hold(1);
    trace('takeover', 'lock of', this.#owner.name, `its holder, token ${holder}, is dead`);
    return Acquired.OwnerDied;
  }

  /** Sets WAITERS before sleeping, so the holder's release wakes us. */
  #announce(watched: WordSleep): number | typeof RETRY {
    const seen = watched.expected;
    if (seen & WAITERS) return seen;
    return Atomics.compareExchange(this.#words, this.#index, seen, seen | WAITERS) === seen ? seen | WAITERS : RETRY;
  }
}

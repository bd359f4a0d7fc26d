// A mutual-exclusion word in shared memory, used across processes.
//
//   0                 free
//   token             held by the handle that owns `token` (1 .. 2^30-1)
//   token | WAITERS   held, and someone may be sleeping on the word
//
// Uncontended acquire and release are one JS compare-and-swap each, with no
// native call (DESIGN.md, decision 3). A contended acquire spins briefly,
// then sleeps in the kernel (futex) until a release that saw WAITERS wakes
// one sleeper. A woken waiter takes the word as `token | WAITERS`, since it
// cannot know whether others still sleep (Drepper, "Futexes Are Tricky").
//
// Holder death (decision 5): a waiter checks the holder's token once before
// it first sleeps and after every wait slice. A token is alive while its
// handle's liveness lock is held, which the kernel drops when the process
// dies; a dead holder's word is taken over with a compare-and-swap and the
// new holder is told (Acquired.ownerDied), as with EOWNERDEAD.
import { ErrorCodes, ShmError, sys } from '../core/errors.js';
import { native } from '../core/native.js';
import { settle } from './abort.js';

export const WAITERS = 0x40000000;
export const OWNER_MASK = 0x3fffffff;

/** Loads of the word before sleeping: a few microseconds (these machines have 2 cores). */
const SPIN_LOADS = 200;
/** Longest single sleep: a dead holder is noticed within one slice. */
export const WAIT_SLICE_MS = 100;

/** The token for a counter value read before its increment: 1 .. OWNER_MASK, never 0. */
export function tokenFromCounter(previous: number): number {
  return ((previous >>> 0) % OWNER_MASK) + 1;
}

/** Result of an acquire attempt. */
export const Acquired = {
  No: 0,
  Yes: 1,
  /** Acquired by taking over from a holder that died holding it. */
  OwnerDied: 2,
} as const;
export type Acquired = (typeof Acquired)[keyof typeof Acquired];

/** Who may hold a word and how to tell whether they still live. */
export interface Owner {
  readonly token: number;
  isAlive(token: number): boolean;
}

export class LockWord {
  readonly #words: Int32Array;
  readonly #index: number;
  readonly #owner: Owner;

  constructor(words: Int32Array, index: number, owner: Owner) {
    this.#words = words;
    this.#index = index;
    this.#owner = owner;
  }

  /** Takes the word if it is free. One compare-and-swap. */
  tryFast(): boolean {
    return Atomics.compareExchange(this.#words, this.#index, 0, this.#owner.token) === 0;
  }

  /** Takes the word if it is free, or held by a dead handle. Never blocks. */
  tryAcquire(): Acquired {
    if (Atomics.compareExchange(this.#words, this.#index, 0, this.#owner.token) === 0) return Acquired.Yes;
    return this.#takeOverIfDead(Atomics.load(this.#words, this.#index));
  }

  /** Takes the word, blocking this thread up to `timeoutMs` (Infinity: no limit). */
  acquireSync(timeoutMs: number): Acquired {
    const first = this.tryAcquire();
    if (first !== Acquired.No) return first;
    if (this.#spin()) return Acquired.Yes;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const step = this.#prepareSleep();
      if (typeof step === 'number' && step !== 0) return step === 1 ? Acquired.Yes : Acquired.OwnerDied;
      if (step === 0) continue;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return Acquired.No;
      sys(() => native.wait(this.#words, this.#index, step.expect, Math.min(remaining, WAIT_SLICE_MS)));
    }
  }

  /** Takes the word without blocking the event loop; the sleeps run on an addon thread. */
  async acquire(timeoutMs: number, signal?: AbortSignal): Promise<Acquired> {
    const first = this.tryAcquire();
    if (first !== Acquired.No) return first;
    if (this.#spin()) return Acquired.Yes;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const step = this.#prepareSleep();
      if (typeof step === 'number' && step !== 0) return step === 1 ? Acquired.Yes : Acquired.OwnerDied;
      if (step === 0) continue;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return Acquired.No;
      const pending = sys(() => native.waitAsync(this.#words, this.#index, step.expect, Math.min(remaining, WAIT_SLICE_MS)));
      await settle(pending, signal);
    }
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
    if (Atomics.compareExchange(this.#words, this.#index, token, 0) === token) return;
    if (!this.isHeldByMe()) {
      throw new ShmError(ErrorCodes.NOT_OWNER, 'release() of a lock this handle does not hold');
    }
    if (Atomics.exchange(this.#words, this.#index, 0) & WAITERS) {
      native.notify(this.#words, this.#index, 1);
    }
  }

  #spin(): boolean {
    const words = this.#words;
    const index = this.#index;
    for (let i = 0; i < SPIN_LOADS; i++) {
      if (Atomics.load(words, index) === 0 && Atomics.compareExchange(words, index, 0, this.#owner.token) === 0) return true;
    }
    return false;
  }

  /**
   * One step before sleeping: take the word if it is free (1) or its holder
   * is dead (2); else make sure WAITERS is set and say what to sleep on.
   * 0: the word changed under us, look again.
   */
  #prepareSleep(): 0 | 1 | 2 | { expect: number } {
    const words = this.#words;
    const index = this.#index;
    const seen = Atomics.load(words, index);
    if (seen === 0) return Atomics.compareExchange(words, index, 0, this.#owner.token | WAITERS) === 0 ? 1 : 0;
    const tookOver = this.#takeOverIfDead(seen);
    if (tookOver !== Acquired.No) return 2;
    if ((seen & WAITERS) === 0 && Atomics.compareExchange(words, index, seen, seen | WAITERS) !== seen) return 0;
    return { expect: seen | WAITERS };
  }

  #takeOverIfDead(seen: number): Acquired {
    const holder = seen & OWNER_MASK;
    if (holder === 0 || holder === this.#owner.token || this.#owner.isAlive(holder)) return Acquired.No;
    // Keep WAITERS: others may be asleep on the word and must be woken at release.
    const mine = this.#owner.token | (seen & WAITERS);
    return Atomics.compareExchange(this.#words, this.#index, seen, mine) === seen ? Acquired.OwnerDied : Acquired.No;
  }
}

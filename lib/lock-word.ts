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
import { ErrorCodes, ShmError } from './errors.js';
import { native } from './native.js';

export const WAITERS = 0x40000000;
export const OWNER_MASK = 0x3fffffff;

/** Loads of the word before sleeping: a few microseconds (these machines have 2 cores). */
const SPIN_LOADS = 200;
/** Longest single sleep; the lock re-checks its word (and, later, its owner's liveness) after each. */
export const WAIT_SLICE_MS = 100;

/** A handle token: `n`-th handle of a segment, kept inside OWNER_MASK and never 0. */
export function tokenFromCounter(n: number): number {
  return ((n - 1) % OWNER_MASK) + 1;
}

export class LockWord {
  readonly #words: Int32Array;
  readonly #index: number;
  readonly #token: number;

  constructor(words: Int32Array, index: number, token: number) {
    this.#words = words;
    this.#index = index;
    this.#token = token;
  }

  get token(): number {
    return this.#token;
  }

  /** Takes the word if it is free. Never blocks. */
  tryAcquire(): boolean {
    return Atomics.compareExchange(this.#words, this.#index, 0, this.#token) === 0;
  }

  /** Takes the word, waiting up to `timeoutMs` (Infinity: no limit). False on timeout. */
  acquireSync(timeoutMs: number): boolean {
    return this.tryAcquire() || this.#acquireContended(timeoutMs);
  }

  #acquireContended(timeoutMs: number): boolean {
    const words = this.#words;
    const index = this.#index;
    for (let i = 0; i < SPIN_LOADS; i++) {
      if (Atomics.load(words, index) === 0 && Atomics.compareExchange(words, index, 0, this.#token) === 0) return true;
    }
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let seen = Atomics.load(words, index);
      if (seen === 0) {
        if (Atomics.compareExchange(words, index, 0, this.#token | WAITERS) === 0) return true;
        continue;
      }
      if ((seen & WAITERS) === 0) {
        if (Atomics.compareExchange(words, index, seen, seen | WAITERS) !== seen) continue;
        seen |= WAITERS;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) return false;
      native.wait(words, index, seen, Math.min(remaining, WAIT_SLICE_MS));
    }
  }

  /** True if this handle holds the word. */
  isHeldByMe(): boolean {
    return (Atomics.load(this.#words, this.#index) & OWNER_MASK) === this.#token;
  }

  /** True if anyone holds the word. */
  isLocked(): boolean {
    return Atomics.load(this.#words, this.#index) !== 0;
  }

  /** Frees the word and wakes one sleeper if any. @throws {ShmError} ERR_SHM_NOT_OWNER */
  release(): void {
    if (!this.isHeldByMe()) {
      throw new ShmError(ErrorCodes.NOT_OWNER, 'release() of a lock this handle does not hold');
    }
    if (Atomics.exchange(this.#words, this.#index, 0) & WAITERS) {
      native.notify(this.#words, this.#index, 1);
    }
  }
}

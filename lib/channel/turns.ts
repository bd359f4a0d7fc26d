// Turns: a handle's own order for its async operations of one kind (its
// sends, or its receives). Without it, two sends waiting for room (or two receives
// waiting for a message) race each other when the ring changes: a later,
// smaller message overtakes an earlier one that does not fit yet, and the
// engine wakes sleepers in no set order. So an operation that has to wait
// takes a turn after every operation of its kind that asked before it has
// ended, whatever it ended in. Sync forms cannot wait for
// async ones (those need the event loop the sync call blocks): they go first.
import { abortError, type ParsedWait, TIMED_OUT, type TimedOut } from '../sync/waiting.js';

export class Turns {
  /** Settles once every operation that joined so far has ended. */
  #last: Promise<undefined> = Promise.resolve(undefined);
  #waiting = 0;

  /** True if no operation of this kind waits for its turn or runs: a new one may go ahead at once. */
  get idle(): boolean {
    return this.#waiting === 0;
  }

  /**
   * Runs `operation` once the operations that joined before it have ended
   * (at once if none is waiting: no extra await on the usual path).
   * TIMED_OUT if the deadline passes before its turn; an abort
   * before its turn rejects with the AbortError at once. Either way the
   * operations behind it keep their order.
   */
  run<T>(wait: ParsedWait, operation: () => Promise<T | TimedOut>): Promise<T | TimedOut> {
    const first = this.#waiting === 0;
    const before = this.#last;
    let leave!: () => void;
    const ended = new Promise<undefined>((resolve) => {
      leave = () => resolve(undefined);
    });
    // The next one goes when this one has ended and so has everything before it.
    this.#last = before.then(() => ended);
    this.#waiting++;
    const result = first ? started(operation) : afterTurn(before, wait, operation);
    const done = () => {
      this.#waiting--;
      leave();
    };
    result.then(done, done);
    return result;
  }
}

/** `operation()`, with a synchronous throw turned into a rejection (so the turns always move on). */
function started<T>(operation: () => Promise<T | TimedOut>): Promise<T | TimedOut> {
  try {
    return operation();
  } catch (err) {
    return Promise.reject(err);
  }
}

async function afterTurn<T>(before: Promise<undefined>, wait: ParsedWait, operation: () => Promise<T | TimedOut>): Promise<T | TimedOut> {
  if ((await turn(before, wait)) === TIMED_OUT) return TIMED_OUT;
  return operation();
}

/** Resolves when `before` does; TIMED_OUT at the deadline; the AbortError on abort. */
function turn(before: Promise<undefined>, { deadline, signal }: ParsedWait): Promise<undefined | TimedOut> {
  if (deadline.at === Infinity && signal === undefined) return before;
  return new Promise<undefined | TimedOut>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      reject(abortError(signal as AbortSignal));
    };
    if (deadline.at !== Infinity) {
      timer = setTimeout(
        () => {
          done();
          resolve(TIMED_OUT);
        },
        Math.max(0, deadline.remaining()),
      );
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    before.then(() => {
      done();
      resolve(undefined);
    });
  });
}

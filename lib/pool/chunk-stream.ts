// imap and imapUnordered over a Pool: chunks of the iterable are sent as
// tasks only as far ahead of the consumer as a bound allows (the iterable
// may be endless, and answers wait here until they are consumed), and their
// results are yielded in order (imap) or as they come (imapUnordered). An
// abort or a timeout ends the running tasks at once, even while the
// consumer is away; its next step throws.
import type { Task } from './worker-process.js';

/** What a ChunkStream needs of its Pool. */
export interface ChunkSender {
  /** The task of `chunk`, to settle through `resolve` and `reject`. */
  task(chunk: unknown[], resolve: Task['resolve'], reject: Task['reject']): Task;
  /** Sends it (Pool's #enqueue: it may be rejected at once, the pool broken). */
  enqueue(task: Task): void;
  /** Drops tasks the stream no longer wants (Scheduler.drop). */
  drop(tasks: Iterable<Task>, end: boolean): void;
}

/** An answered chunk, until it is yielded. */
interface ChunkAnswer {
  ok: boolean;
  value: unknown;
}

export class ChunkStream {
  readonly #ordered: boolean;
  readonly #sender: ChunkSender;
  /** Answered chunks not yet yielded, by index (insertion order = completion order). */
  readonly #answered = new Map<number, ChunkAnswer>();
  /** Chunks sent and not yet answered, by index. */
  readonly #running = new Map<number, Task>();
  /** Wakes the consumer waiting for an answer. */
  #wake: (() => void) | undefined;
  /** Why the stream was stopped (an abort, a timeout): its next step throws it. */
  #stopped: { error: unknown } | undefined;
  #sent = 0;
  #consumed = 0;
  #exhausted = false;

  constructor(ordered: boolean, sender: ChunkSender) {
    this.#ordered = ordered;
    this.#sender = sender;
  }

  /** The results of every chunk of `source`, keeping at most `ahead` chunks sent or answered but not yet consumed. */
  async *results(source: AsyncGenerator<unknown[], void, undefined>, ahead: number): AsyncGenerator<unknown, void, undefined> {
    for (;;) {
      await this.#sendAhead(source, ahead);
      if (this.#exhausted && this.#consumed === this.#sent) return;
      let answer = this.#takeAnswer();
      while (answer === undefined) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        answer = this.#takeAnswer();
      }
      this.#consumed += 1;
      if (!answer.ok) throw answer.value;
      yield* answer.value as unknown[];
    }
  }

  /** Ends the running chunks now (their workers are killed); the next step throws `error`. */
  stop(error: unknown): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = { error };
    this.#sender.drop(this.#running.values(), true);
    this.#wake?.();
  }

  /** The consumer left (break, an error): what has not started is dropped, what runs finishes unseen. */
  leave(): void {
    this.#sender.drop(this.#running.values(), false);
  }

  /** Reads and sends chunks until `ahead` are out or the source ends. */
  async #sendAhead(source: AsyncGenerator<unknown[], void, undefined>, ahead: number): Promise<void> {
    while (!this.#exhausted && this.#sent - this.#consumed < ahead) {
      const next = await source.next();
      if (this.#stopped !== undefined) throw this.#stopped.error;
      if (next.done) {
        this.#exhausted = true;
        return;
      }
      const index = this.#sent++;
      const settle = (ok: boolean) => (value: unknown) => {
        this.#running.delete(index);
        this.#answered.set(index, { ok, value });
        this.#wake?.();
      };
      const task = this.#sender.task(next.value, settle(true), settle(false));
      this.#running.set(index, task);
      this.#sender.enqueue(task);
    }
  }

  /** The next answer to yield (the next chunk's, or the first to come), if it is here; throws once the stream was stopped. */
  #takeAnswer(): ChunkAnswer | undefined {
    if (this.#stopped !== undefined) throw this.#stopped.error;
    const key = this.#ordered ? this.#consumed : this.#answered.keys().next().value;
    const answer = key === undefined ? undefined : this.#answered.get(key);
    if (answer !== undefined) this.#answered.delete(key as number);
    return answer;
  }
}

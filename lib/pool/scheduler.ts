// The Pool's scheduler: which worker runs which task, and when. Tasks wait
// in one queue, in the order of their calls, and leave in batches, to the
// least loaded workers with room, sized from how long tasks of their
// function took so far: many tiny tasks cost one message, and nothing waits
// behind a long task while a worker idles. Once nothing is queued, an idle
// worker takes over tasks another was sent but has not started (work
// stealing). The parent decides all of it, so it always knows which task a
// dead worker held; what a death leads to is the lifecycle's (workers.ts).
import { REPLY_FIELDS, type Reply, ReplyField } from './protocol.js';
import { TaskLine } from './task-line.js';
import type { Task, WorkerProcess } from './worker-process.js';

/** Microseconds of work a batch of tiny tasks is made of (see #limits). */
const BATCH_US = 500;
const MAX_BATCH = 256;
/** Tasks that took this long (microseconds) or more go one at a time, alone (see #limits). */
const ALONE_US = 2000;
/** How soon an idle worker looks again at tasks on their way to another (not yet claimed): see #steal. */
const RECHECK_MS = 1;

/** What a batch of tasks of one function may be, from how long they took. */
interface BatchLimits {
  /** Tasks in one batch. */
  batch: number;
  /** Tasks a worker may hold unanswered; 1: each goes alone. */
  window: number;
}

export class Scheduler {
  /** The live workers (workers.ts adds and removes them). */
  readonly #workers: ReadonlySet<WorkerProcess>;
  /** Tasks not yet sent, in order. */
  readonly #queue = new TaskLine<Task>();
  #dispatchQueued = false;
  /** Microseconds a task of each function took, on average. */
  readonly #taskTimes = new Map<string, number>();
  /** close()'s wait for nothing to be queued or out. */
  #drained: (() => void) | undefined;
  /** A dispatch to come: an idle worker waits to see whether another starts a long task with tasks behind it. */
  #recheck: NodeJS.Timeout | undefined;

  constructor(workers: ReadonlySet<WorkerProcess>) {
    this.#workers = workers;
  }

  /** How many tasks are queued, not yet sent (cancelled ones not yet skipped included). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues a task; it leaves with the others queued in the same tick. */
  enqueue(task: Task): void {
    this.#queue.push(task);
    this.#dispatchSoon();
  }

  /** Puts tasks back at the front of the queue, in their order. */
  requeue(tasks: Task[]): void {
    this.#queue.unshiftAll(tasks);
  }

  /** Takes every queued task (the pool fails them). */
  takeQueued(): Task[] {
    return this.#queue.takeAll();
  }

  /**
   * Tasks their call no longer wants: queued ones are skipped when their
   * turn comes; sent ones their worker has not started are taken back (they
   * never run); with `end`, one that is running is ended by killing its
   * worker (a timeout, an abort), which is then replaced.
   */
  drop(tasks: Iterable<Task>, end: boolean): void {
    let ending: Map<WorkerProcess, Task[]> | undefined;
    for (const task of tasks) {
      task.cancelled = true;
      const worker = task.worker;
      if (worker === undefined || worker.takeBack(task)) continue;
      if (end && worker.isRunning(task)) {
        ending ??= new Map();
        ending.set(worker, [...(ending.get(worker) ?? []), task]);
      }
    }
    if (ending !== undefined) for (const [worker, running] of ending) this.#endRunning(worker, running);
    this.checkDrained();
    this.#dispatchSoon();
  }

  /**
   * Sends queued tasks to the workers with room, the least loaded first, in
   * batches; once nothing is queued, an idle worker takes over tasks
   * another has not started (#steal).
   */
  dispatch(): void {
    this.#feed();
    if (this.#queue.length === 0 && this.#steal()) this.#feed();
    this.checkDrained();
  }

  /** Learns how long tasks of each function take (a moving average, from the workers' own clocks). */
  learn(tasks: Task[], answers: Reply): void {
    for (let i = 0; i < tasks.length; i++) {
      const fn = (tasks[i] as Task).fn;
      const us = answers[i * REPLY_FIELDS + ReplyField.micros] as number;
      const average = this.#taskTimes.get(fn);
      this.#taskTimes.set(fn, average === undefined ? us : average * 0.8 + us * 0.2);
    }
  }

  /** Resolves once nothing is queued or out (close() waits for it). */
  drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#drained = resolve;
      this.checkDrained();
    });
  }

  /** Resolves drained()'s wait once nothing is queued or out. */
  checkDrained(): void {
    if (this.#drained === undefined) return;
    this.#skipCancelled();
    if (this.#queue.length > 0) return;
    for (const worker of this.#workers) if (worker.load > 0) return;
    const drained = this.#drained;
    this.#drained = undefined;
    drained();
  }

  /** Dispatches in a microtask: tasks added in the same tick (a loop of submit()) leave as one batch. */
  #dispatchSoon(): void {
    if (this.#dispatchQueued) return;
    this.#dispatchQueued = true;
    queueMicrotask(() => {
      this.#dispatchQueued = false;
      this.dispatch();
    });
  }

  /**
   * Ends a task that runs too long by killing its worker. First everything
   * the worker has not started goes back to the queue, so that nothing else
   * starts there and dies with it (the answers of the tasks it ran before
   * were sent ahead of this one: worker.ts); then, if the task still runs
   * (it may just have finished), the worker is killed and later replaced.
   */
  #endRunning(worker: WorkerProcess, running: Task[]): void {
    this.requeue(worker.takeBackUnstarted(Infinity).filter((task) => !task.cancelled));
    if (running.some((task) => worker.isRunning(task))) worker.end();
  }

  /** Sends queued tasks, in batches of one function, to the workers with room for a batch, the least loaded first. */
  #feed(): void {
    for (;;) {
      this.#skipCancelled();
      const front = this.#queue.at(0);
      if (front === undefined) break;
      const fn = front.fn;
      const { batch: size, window } = this.#limits(fn);
      const alone = window === 1;
      const open = this.#workersWithRoom(size, window, alone);
      if (open.length === 0) break;
      let progress = false;
      for (let i = 0; i < open.length && this.#queue.length > 0; i++) {
        const worker = open[i] as WorkerProcess;
        const share = Math.ceil(this.#queue.length / (open.length - i));
        const batch = this.#take(Math.min(window - worker.load, size, worker.quota, share), fn);
        if (batch.length === 0) break;
        progress = this.#sendTo(worker, batch, alone) || progress;
      }
      if (!progress) break;
    }
  }

  /**
   * The workers that may be sent a batch now, the least loaded first: a
   * worker takes one when it has room for a whole one (or holds nothing).
   * Nothing goes behind a task sent alone: it may run for long while
   * another worker idles.
   */
  #workersWithRoom(size: number, window: number, alone: boolean): WorkerProcess[] {
    const open = [...this.#workers].filter(
      (worker) => worker.quota > 0 && (worker.load === 0 || (!alone && !worker.holdsAlone && window - worker.load >= size)),
    );
    return open.sort((a, b) => a.load - b.load);
  }

  /**
   * When nothing is queued, each idle worker takes over half of the tasks
   * that another worker was sent but has not started, from the one with
   * most (they wait behind the task it runs, which may be long: a quick
   * function's slow call, or the end of a burst; or for it to load the
   * module). Half, from the end of the line, as work stealing does: each
   * steal halves what is left, so two workers do not hand the same tasks
   * back and forth. True if any moved.
   */
  #steal(): boolean {
    let stole = false;
    let inTransit = false;
    for (const thief of this.#workers) {
      if (!thief.ready || thief.load > 0 || thief.quota === 0) continue;
      let victim: WorkerProcess | undefined;
      let most = 0;
      for (const other of this.#workers) {
        if (other === thief || other.load === 0) continue;
        if (!other.occupied) {
          inTransit = true;
          continue;
        }
        const unstarted = other.unstarted();
        if (unstarted > most) {
          most = unstarted;
          victim = other;
        }
      }
      if (victim === undefined) break;
      const taken = victim.takeBackUnstarted(Math.min(thief.quota, Math.ceil(most / 2))).filter((task) => !task.cancelled);
      if (taken.length === 0) continue;
      // Straight to the thief: through the queue they would be shared out again, the victim included.
      this.#sendTo(
        thief,
        taken,
        taken.some((task) => this.#limits(task.fn).window === 1),
      );
      stole = true;
    }
    // A worker that has not yet claimed the first task on its way to it may be about to start a
    // long one: look again soon, as no answer may come to trigger a dispatch until it ends.
    if (inTransit) this.#recheckSoon();
    return stole;
  }

  #recheckSoon(): void {
    if (this.#recheck !== undefined) return;
    this.#recheck = setTimeout(() => {
      this.#recheck = undefined;
      this.dispatch();
    }, RECHECK_MS);
    this.#recheck.unref();
  }

  /** Up to `n` tasks of function `fn` from the front of the queue, skipping cancelled ones. */
  #take(n: number, fn: string): Task[] {
    const batch: Task[] = [];
    while (batch.length < n) {
      const task = this.#queue.at(0);
      if (task === undefined || (!task.cancelled && task.fn !== fn)) break;
      this.#queue.shift();
      if (!task.cancelled) batch.push(task);
    }
    return batch;
  }

  #skipCancelled(): void {
    while (this.#queue.at(0)?.cancelled) this.#queue.shift();
  }

  /**
   * How many tasks of `fn` go in one batch, and how many a worker may hold,
   * from how long they took so far. Tiny tasks go in batches of about
   * BATCH_US of work, up to MAX_BATCH (one message and one wake-up each way
   * for many), two batches per worker so the next is there when it finishes
   * one. Tasks of ALONE_US or more, and those not yet timed, go one at a
   * time and alone (nothing is sent to their worker until they are
   * answered), so no task waits behind a long one while a worker idles.
   */
  #limits(fn: string): BatchLimits {
    const us = this.#taskTimes.get(fn);
    if (us === undefined || us >= ALONE_US) return { batch: 1, window: 1 };
    const batch = Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_US / Math.max(us, 1))));
    return { batch, window: 2 * batch };
  }

  /** Sends a batch (`alone`: nothing is to go behind it); what the worker cannot take now goes back to the front. True if any went. */
  #sendTo(worker: WorkerProcess, batch: Task[], alone: boolean): boolean {
    let sent: number;
    try {
      sent = worker.send(batch, alone);
    } catch (err) {
      // This one task cannot travel (not cloneable, larger than the pipe): it fails alone.
      (batch[0] as Task).reject(err);
      this.requeue(batch.slice(1));
      return true;
    }
    this.requeue(batch.slice(sent));
    return sent > 0;
  }
}

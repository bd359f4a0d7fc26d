// The parent's side of one Pool worker: the child process, its Pipe, the
// tasks sent to it in order, and how many more it may be sent.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Pipe } from '../channel/pipe.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import { SharedArray } from '../memory/array.js';
import { crossingError, type ErrorRecord, type Mode, progressName, REPLY_FIELDS, type Reply, removeNames, type Setup, Status } from './protocol.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./worker.js', import.meta.url));

/** One task: a function call, or a chunk of them, on its way to a worker and back. */
export interface Task {
  readonly id: number;
  readonly mode: Mode;
  readonly fn: string;
  readonly payload: unknown[];
  /** Set when its call no longer wants it (aborted, or a sibling chunk failed): not sent, its answer ignored. */
  cancelled: boolean;
  /** Called once with the outcome (never for a cancelled task). */
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What the pool hears from a worker. */
export interface WorkerEvents {
  /** Tasks answered: `answers` holds REPLY_FIELDS per task, in the order of `tasks`. */
  answered(worker: WorkerProcess, tasks: Task[], answers: Reply): void;
  ready(worker: WorkerProcess): void;
  /**
   * The process ended. `held`: unanswered tasks it had started (the one it
   * was running, and any whose answers it had not sent yet); `notStarted`:
   * the rest, in order.
   */
  exited(worker: WorkerProcess, exit: WorkerExit, held: Task[], notStarted: Task[]): void;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Whether it had sent READY. */
  wasReady: boolean;
  /** Whether the pool ended it (stop() or kill()). */
  requested: boolean;
  /** What it reported with FATAL: its module or initializer failed. */
  fatal: ErrorRecord | undefined;
  /** Why the process could not be started (EAGAIN: a process limit), if it could not. */
  spawnError: Error | undefined;
}

export interface SpawnOptions {
  setup: Setup;
  env: NodeJS.ProcessEnv;
  execArgv: string[];
  capacity: number;
}

let spawned = 0;

export class WorkerProcess {
  readonly child: ChildProcess;
  readonly #pipe: Pipe<unknown[] | Setup>;
  readonly #pipeName: string;
  readonly #events: WorkerEvents;
  /** Sent, not yet answered, in the order sent. */
  #unanswered: Task[] = [];
  #head = 0;
  /** Tasks it answered, in all. */
  #answeredCount = 0;
  /**
   * Word 0: how many tasks the worker has started, in all (it counts before
   * each). Read once it is dead: the unanswered tasks it started ran or were
   * running; the rest never started and go to another worker.
   */
  readonly #progress: SharedArray<'float64'>;
  /** Tasks it may still be sent before maxTasksPerChild retires it (Infinity for no limit). */
  #quota: number;
  #ready = false;
  #receiving = false;
  #exited = false;
  #requested = false;
  /** Its tasks were taken back: answers still on their way are dropped. */
  #abandoned = false;
  #fatal: ErrorRecord | undefined;
  #spawnError: Error | undefined;
  readonly #capacity: number;
  /** Resolves when the process has ended and the pool heard of it. */
  readonly ended: Promise<void>;

  constructor(options: SpawnOptions, events: WorkerEvents) {
    this.#events = events;
    this.#quota = options.setup.maxTasks > 0 ? options.setup.maxTasks : Infinity;
    spawned += 1;
    this.#capacity = options.capacity;
    this.#pipeName = `shmkit-pool-${process.pid}-${spawned}-${randomBytes(2).toString('hex')}`;
    this.#pipe = Pipe.create(this.#pipeName, { capacity: options.capacity });
    let progress: SharedArray<'float64'> | undefined;
    try {
      progress = SharedArray.create(progressName(this.#pipeName), 'float64', 1);
      this.#sendSetup(options);
      this.child = spawnWorker(options, this.#pipeName);
    } catch (err) {
      // A worker that could not be made leaves nothing behind.
      this.#pipe.close();
      progress?.close();
      removeNames(this.#pipeName);
      throw err;
    }
    this.#progress = progress;
    let resolveEnded!: () => void;
    this.ended = new Promise((resolve) => (resolveEnded = resolve));
    this.child.on('error', (err) => {
      // spawn failed (EAGAIN: a process limit, ENOMEM): no 'exit' follows.
      this.#spawnError ??= err;
      if (this.child.pid === undefined) this.#onExit(null, null, resolveEnded);
    });
    this.child.on('exit', (code, signal) => this.#onExit(code, signal, resolveEnded));
    // An idle pool must not keep the program alive: pending receives do while tasks are out.
    this.child.unref();
    void this.#receive();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Tasks sent and not answered. */
  get load(): number {
    return this.#unanswered.length - this.#head;
  }

  /** How many more tasks it may be sent: 0 once it exited, or maxTasksPerChild is reached. */
  get quota(): number {
    return this.#exited ? 0 : this.#quota;
  }

  /**
   * Sends tasks as one batch. Returns how many went: fewer than given if its
   * ring is full. Throws what encoding threw when a task cannot be sent at all
   * (not cloneable, too large): only for a batch of one.
   */
  send(tasks: Task[]): number {
    const batch: unknown[] = [];
    for (const task of tasks) batch.push(task.id, task.mode, task.fn, task.payload);
    try {
      this.#pipe.sendSync(batch, { timeout: 0 });
    } catch (err) {
      if (err instanceof ShmError && (err.code === ErrorCodes.TIMEOUT || err.code === ErrorCodes.PIPE_CLOSED)) return 0;
      if (tasks.length > 1) return this.send(tasks.slice(0, 1)); // find the one that cannot go
      throw crossingError(err, `the argument list of task ${JSON.stringify((tasks[0] as Task).fn)}`, this.#capacity);
    }
    for (const task of tasks) this.#unanswered.push(task);
    this.#quota -= tasks.length;
    void this.#receive();
    return tasks.length;
  }

  /** Ends it gracefully: it finishes what it was sent, then sees end-of-stream and exits. */
  stop(): void {
    this.#requested = true;
    this.child.ref();
    this.#pipe.close();
  }

  /**
   * Ends it now. Its names go at once: it has no more use for them, and
   * nothing stays in /dev/shm even if this process ends before the worker's
   * exit is reported (a Pool constructor that throws, a program exiting).
   */
  kill(): void {
    this.#requested = true;
    this.child.ref();
    // A process that failed to spawn has no pid: libuv would signal pid 0, this whole process group.
    if (!this.#exited && this.child.pid !== undefined) this.child.kill('SIGKILL');
    removeNames(this.#pipeName);
  }

  /** Takes back the tasks sent and not answered (the pool fails them): later answers are ignored. */
  takeUnanswered(): Task[] {
    const tasks = this.#unanswered.slice(this.#head);
    this.#abandoned = true;
    this.#unanswered = [];
    this.#head = 0;
    return tasks;
  }

  /** Receives while an answer is owed (or READY): a pending receive keeps the program alive, an idle pool does not. */
  async #receive(): Promise<void> {
    if (this.#receiving) return;
    this.#receiving = true;
    try {
      while (!this.#exited && (!this.#ready || this.load > 0)) this.#onReply((await this.#pipe.recv()) as Reply);
    } catch (err) {
      // End-of-stream (the worker died: 'exit' reports it) or this end closed.
      if (!(err instanceof ShmError)) throw err;
      // The pipe can tell of a death before the process's exit is reported: until then the
      // (unref'd) child must keep the program alive, or a call awaiting its answer would
      // never settle (the program ended with exit code 13 instead of a WorkerDiedError).
      if (!this.#exited) this.child.ref();
    } finally {
      this.#receiving = false;
    }
  }

  #onReply(reply: Reply): void {
    if (reply[0] === -1) {
      if (reply[1] === Status.ready) {
        this.#ready = true;
        this.#events.ready(this);
      } else {
        this.#fatal = reply[2] as ErrorRecord;
      }
      return;
    }
    if (this.#abandoned) return;
    const count = reply.length / REPLY_FIELDS;
    const tasks = this.#unanswered.slice(this.#head, this.#head + count);
    for (let i = 0; i < count; i++) {
      if (tasks[i]?.id !== reply[i * REPLY_FIELDS]) throw new ShmError(ErrorCodes.NATIVE, `pool worker answered task ${reply[i * REPLY_FIELDS]} out of order`);
    }
    this.#head += count;
    this.#answeredCount += count;
    if (this.#head > 1024 && this.#head * 2 > this.#unanswered.length) this.#compact();
    this.#events.answered(this, tasks, reply);
  }

  #compact(): void {
    this.#unanswered = this.#unanswered.slice(this.#head);
    this.#head = 0;
  }

  /** The first message: what to load and run. One that cannot fit the pipe is the `capacity` option's fault. */
  #sendSetup(options: SpawnOptions): void {
    try {
      this.#pipe.sendSync(options.setup);
    } catch (err) {
      throw crossingError(err, 'the setup message (the module URL and options.initargs)', options.capacity);
    }
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null, resolveEnded: () => void): void {
    if (this.#exited) return;
    this.#exited = true;
    // Answers it wrote before it ended are still in the ring: take them first.
    try {
      while (this.#pipe.pollSync()) this.#onReply(this.#pipe.recvSync() as Reply);
    } catch {
      // end-of-stream, or this end already closed
    }
    this.#pipe.close();
    const started = Math.max(0, (this.#progress.array[0] as number) - this.#answeredCount);
    this.#progress.close();
    removeNames(this.#pipeName);
    const unanswered = this.#unanswered.slice(this.#head);
    const held = unanswered.slice(0, started);
    const notStarted = unanswered.slice(started);
    this.#unanswered = [];
    this.#head = 0;
    const exit = { code, signal, wasReady: this.#ready, requested: this.#requested, fatal: this.#fatal, spawnError: this.#spawnError };
    this.#events.exited(this, exit, held, notStarted);
    resolveEnded();
  }
}

/**
 * Starts the worker process. spawn() throws only when it refuses its
 * arguments (a NUL byte or a Symbol in options.env or options.execArgv);
 * a process that cannot start is reported by its 'error' event instead.
 */
function spawnWorker(options: SpawnOptions, pipeName: string): ChildProcess {
  try {
    return spawn(process.execPath, [...options.execArgv, WORKER_SCRIPT, pipeName, String(process.pid)], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: options.env,
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ShmError(ErrorCodes.INVALID_ARG, `cannot start a pool worker with these options.env and options.execArgv: ${why}`, { cause: err });
  }
}

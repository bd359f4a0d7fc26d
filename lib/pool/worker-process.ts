// The parent's side of one Pool worker: the child process, its Pipe and claim
// words, the tasks sent to it in order, and how many more it may be sent.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Pipe } from '../channel/pipe.js';
import { ErrorCodes, ShmError } from '../core/errors.js';
import { SharedArray } from '../memory/array.js';
import {
  CLAIMS,
  Claim,
  ClaimWords,
  claimsName,
  crossingError,
  describeTask,
  ENDABLE,
  type ErrorRecord,
  HANDLES,
  Mode,
  REPLY_FIELDS,
  type Reply,
  ReplyField,
  removeNames,
  type Setup,
  Status,
} from './protocol.js';
import { TaskLine } from './task-line.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./worker.js', import.meta.url));

/** One task: a function call, or a chunk of them, on its way to a worker and back. */
export interface Task {
  readonly id: number;
  readonly mode: Mode;
  readonly fn: string;
  readonly payload: unknown[];
  /** Set when its call no longer wants it (aborted, timed out, or a sibling chunk failed): not sent (or taken back), its answer ignored. */
  cancelled: boolean;
  /** Its call has a signal or a timeout: it may be ended by killing its worker. */
  readonly endable: boolean;
  /** Its payload holds descriptions of shmkit handles (lib/core/transfer.ts): the worker opens them for it. */
  readonly handles: boolean;
  /** The worker it was sent to, while it is there unanswered. */
  worker: WorkerProcess | undefined;
  /** Its number among the tasks sent to that worker (its claim word's slot). */
  seq: number;
  /** It was sent to go alone: nothing was to be sent behind it. */
  alone: boolean;
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
   * the rest, in order (it never claimed them, and now never will).
   */
  exited(worker: WorkerProcess, exit: WorkerExit, held: Task[], notStarted: Task[]): void;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Whether it had sent READY. */
  wasReady: boolean;
  /** Whether the pool ended it (stop() or kill(); not end(), which is a death the pool caused on purpose). */
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
  /** Sent, not yet answered nor taken back, in the order sent (so in seq order). */
  readonly #unanswered = new TaskLine<Task>();
  /** The seq of the next task sent. */
  #nextSeq = 0;
  /**
   * Each task's claim word (protocol.ts): the worker runs a task only if it
   * moves it from SENT to STARTED, the parent takes one back only if it
   * moves it from SENT to REVOKED. Read once the worker is dead too: its
   * unanswered tasks that are STARTED or DONE ran or were running; the rest
   * never started and go to another worker.
   */
  readonly #claimsSegment: SharedArray<'int32'>;
  readonly #claims: ClaimWords;
  /** Tasks it may still be sent before maxTasksPerChild retires it (Infinity for no limit). */
  #quota: number;
  /** Unanswered tasks that were sent to go alone (see Scheduler's #limits): nothing is sent behind them. */
  #alone = 0;
  #ready = false;
  #receiving = false;
  #exited = false;
  #requested = false;
  /** end() killed it: it takes no more tasks. */
  #ending = false;
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
    let claims: SharedArray<'int32'> | undefined;
    try {
      claims = SharedArray.create(claimsName(this.#pipeName), 'int32', CLAIMS);
      this.#sendSetup(options);
      this.child = spawnWorker(options, this.#pipeName);
    } catch (err) {
      // A worker that could not be made leaves nothing behind.
      this.#pipe.close();
      claims?.close();
      removeNames(this.#pipeName);
      throw err;
    }
    this.#claimsSegment = claims;
    this.#claims = new ClaimWords(claims.array);
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

  /** Tasks sent and not answered (nor taken back). */
  get load(): number {
    return this.#unanswered.length;
  }

  /** Whether it holds a task sent to go alone: nothing else is sent to it until that is answered. */
  get holdsAlone(): boolean {
    return this.#alone > 0;
  }

  /** How many more tasks it may be sent: 0 once it exited or is being ended, or maxTasksPerChild is reached. */
  get quota(): number {
    return this.#exited || this.#ending ? 0 : this.#quota;
  }

  /**
   * Sends tasks as one batch (`alone`: they go alone, nothing is to be sent
   * behind them). Returns how many went: fewer than given if its ring is
   * full, or if more would reuse the claim word of a task still unanswered.
   * Throws what encoding threw when a task cannot be sent at all (not
   * cloneable, too large): only for a batch of one.
   */
  send(tasks: Task[], alone = false): number {
    const oldest = this.#unanswered.at(0)?.seq ?? this.#nextSeq;
    const room = CLAIMS - (this.#nextSeq - oldest);
    if (tasks.length > room) tasks = tasks.slice(0, Math.max(0, room));
    if (tasks.length === 0) return 0;
    const batch: unknown[] = [this.#nextSeq];
    let seq = this.#nextSeq;
    for (const task of tasks) {
      // In the order of TaskField.
      batch.push(task.id, task.mode | (task.endable ? ENDABLE : 0) | (task.handles ? HANDLES : 0), task.fn, task.payload);
      // Before the batch goes: the worker claims the task against this word.
      this.#claims.markSent(seq++);
    }
    try {
      this.#pipe.sendSync(batch, { timeout: 0 });
    } catch (err) {
      if (err instanceof ShmError && (err.code === ErrorCodes.TIMEOUT || err.code === ErrorCodes.PIPE_CLOSED)) return 0;
      if (tasks.length > 1) return this.send(tasks.slice(0, 1), alone); // find the one that cannot go
      const task = tasks[0] as Task;
      const what = task.mode === Mode.call ? `the argument list of ${JSON.stringify(task.fn)}` : describeTask(task.fn, task.mode, task.payload.length);
      throw crossingError(err, what, this.#capacity, task.payload, task.mode !== Mode.call);
    }
    for (const task of tasks) {
      task.worker = this;
      task.seq = this.#nextSeq++;
      task.alone = alone;
      this.#unanswered.push(task);
    }
    if (alone) this.#alone += tasks.length;
    this.#quota -= tasks.length;
    void this.#receive();
    return tasks.length;
  }

  /** A task's state in its claim word, while it is here unanswered. */
  #state(task: Task): Claim {
    return this.#claims.state(task.seq);
  }

  /** Whether the worker has not started `task` (nor will it: it is dead, or has not claimed it yet). */
  #notStarted = (task: Task): boolean => this.#state(task) === Claim.sent;

  /** Takes `task` back if the worker has not started it: then it never will. */
  takeBack(task: Task): boolean {
    if (task.worker !== this || this.#exited || !this.#revoke(task)) return false;
    this.#unanswered.remove(task);
    this.#forget([task]);
    return true;
  }

  /** Whether `task` (here, unanswered) is running now: the worker started it and has not finished it. */
  isRunning(task: Task): boolean {
    return task.worker === this && !this.#exited && this.#state(task) === Claim.started;
  }

  /**
   * Whether the tasks it has not started wait for something: it is still
   * starting (loading the module), or it is running a task (or has just
   * finished one, its answer not yet here). Tasks merely on their way to an
   * idle worker do not count: taking those would hand them back and forth.
   */
  get occupied(): boolean {
    if (this.load === 0 || this.#exited || this.#ending) return false;
    return !this.#ready || !this.#notStarted(this.#unanswered.at(0) as Task);
  }

  /** How many of its unanswered tasks, at the end of the line, it has not started. */
  unstarted(): number {
    return this.#unanswered.countFromBack(this.#notStarted);
  }

  /**
   * Takes back up to `max` of its tasks not yet started, from the end of the
   * line, and returns them in order: they will never run here.
   */
  takeBackUnstarted(max: number): Task[] {
    if (this.#exited) return [];
    // From the end: the worker claims from the front, so what is taken back stays one run of tasks.
    const taken = this.#unanswered.popWhile(max, this.#revoke);
    this.#forget(taken);
    return taken;
  }

  #revoke = (task: Task): boolean => this.#claims.claim(task.seq, Claim.revoked);

  /** Tasks taken back: no longer held here, and they count against maxTasksPerChild no more. */
  #forget(tasks: Task[]): void {
    this.#release(tasks);
    this.#quota += tasks.length;
  }

  /** Tasks no longer held here: answered, taken back, or left by its death. */
  #release(tasks: Task[]): void {
    for (const task of tasks) {
      task.worker = undefined;
      if (task.alone) this.#alone -= 1;
    }
  }

  /** Every task held here, now released, in order. */
  #releaseAll(): Task[] {
    const tasks = this.#unanswered.takeAll();
    this.#release(tasks);
    return tasks;
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
    this.#sigkill();
  }

  /**
   * Kills it to end the task it runs (a timeout, an abort): a death like any
   * other (its unanswered started tasks fail, the rest run elsewhere, it is
   * replaced), but it is sent nothing more meanwhile.
   */
  end(): void {
    this.#ending = true;
    this.#sigkill();
  }

  #sigkill(): void {
    this.child.ref();
    // A process that failed to spawn has no pid: libuv would signal pid 0, this whole process group.
    if (!this.#exited && this.child.pid !== undefined) this.child.kill('SIGKILL');
    removeNames(this.#pipeName);
  }

  /** Takes back the tasks sent and not answered (the pool fails them): later answers are ignored. */
  takeUnanswered(): Task[] {
    this.#abandoned = true;
    return this.#releaseAll();
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
    for (let i = 0; i < count; i++) {
      const id = reply[i * REPLY_FIELDS + ReplyField.id];
      if (this.#unanswered.at(i)?.id !== id) throw new ShmError(ErrorCodes.NATIVE, `pool worker answered task ${id} out of order`);
    }
    const tasks = this.#unanswered.shiftMany(count);
    this.#release(tasks);
    this.#events.answered(this, tasks, reply);
  }

  /** The first message: what to load and run. One that cannot fit the pipe is the `capacity` option's fault. */
  #sendSetup(options: SpawnOptions): void {
    try {
      this.#pipe.sendSync(options.setup);
    } catch (err) {
      throw crossingError(err, 'the setup message (the module URL and options.initargs)', options.capacity, options.setup);
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
    const unanswered = this.#releaseAll();
    // It is dead: no claim word moves any more.
    const held = unanswered.filter((task) => !this.#notStarted(task));
    const notStarted = unanswered.filter(this.#notStarted);
    this.#claimsSegment.close();
    removeNames(this.#pipeName);
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

// Pool: Python's multiprocessing.Pool / ProcessPoolExecutor for Node. Workers
// are separate node processes; each has its own shmkit Pipe, over which the
// parent sends batches of tasks and the worker answers each task in turn
// (lib/pool/protocol.ts). The parent decides which worker gets what, so it
// always knows which task a dead worker held.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serialize } from 'node:v8';
import { currentProcess } from '../core/current.js';
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { describeHandles } from '../core/transfer.js';
import { checkInteger, checkObject, checkTimeout, INT32_MAX } from '../core/validate.js';
import { abortError, checkSignal } from '../sync/waiting.js';
import { openHandles } from './handle-kinds.js';
import { type ErrorRecord, Mode, REPLY_FIELDS, type Reply, ReplyField, rebuildError, Status } from './protocol.js';
import { type Task, type WorkerExit, WorkerProcess } from './worker-process.js';

// biome-ignore lint/suspicious/noExplicitAny: the default task module accepts any arguments, as an untyped import would
type AnyFunction = (...args: any[]) => unknown;

/** The names of `M`'s exported functions. */
export type TaskName<M> = { [K in keyof M]: M[K] extends AnyFunction ? K : never }[keyof M] & string;
/** The parameters of `M`'s export `K`. */
export type TaskArgs<M, K extends keyof M> = M[K] extends AnyFunction ? Parameters<M[K]> : never;
/** What `M`'s export `K` returns, awaited (a task may be async). */
export type TaskResult<M, K extends keyof M> = M[K] extends AnyFunction ? Awaited<ReturnType<M[K]>> : never;

/** Options of `new Pool`. */
export interface PoolOptions {
  /** Worker processes. Default `os.availableParallelism()`. */
  processes?: number;
  /** Tasks (or chunks) a worker runs before it is replaced by a fresh one. Default: no limit. */
  maxTasksPerChild?: number;
  /** Name of an exported function of the task module each worker runs once before any task (failure stops the pool). */
  initializer?: string;
  /** Arguments of the initializer (structured-cloneable). */
  initargs?: unknown[];
  /** The workers' environment. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Node options for the workers (e.g. `['--max-old-space-size=512']`). Default none. */
  execArgv?: string[];
  /** Bytes of each direction of each worker's pipe: a task's arguments, or its result, must fit. Default 1 MiB. */
  capacity?: number;
}

/** Options of one call. */
export interface CallOptions {
  /**
   * Abort: the call rejects with an AbortError at once; its tasks not
   * started are dropped, and one that is running is ended (its worker is
   * killed and replaced), as at a `timeout`.
   */
  signal?: AbortSignal;
  /**
   * Milliseconds from the call: once they pass it rejects with
   * ERR_SHM_TIMEOUT, its tasks not started are dropped, and one that is
   * running is ended (its worker is killed and replaced; the tasks queued
   * on that worker run on the others). Default: no limit.
   */
  timeout?: number;
}

/**
 * Options of a `submit` call, made by `Pool.options({ signal, timeout })`
 * and passed after the task's arguments, so they cannot be taken for one:
 * `pool.submit('fn', a, b, Pool.options({ timeout: 1000 }))`.
 */
export class SubmitOptions {
  readonly #options: unknown;

  /** @internal Made by `Pool.options`. */
  constructor(options: unknown) {
    this.#options = options;
  }

  /** @internal The options given, or undefined if `value` is not a SubmitOptions. */
  static unwrap(value: unknown): { options: unknown } | undefined {
    return value instanceof Object && #options in value ? { options: (value as SubmitOptions).#options } : undefined;
  }
}

/** The ways of passing `A` to `submit`: as they are, or followed by its SubmitOptions (optional parameters may then be left out too). */
export type SubmitArgs<A extends unknown[]> = A | (number extends A['length'] ? [...A, SubmitOptions] : WithOptions<Prefixes<Required<A>>, A>);
/** Every prefix of the tuple `T`. */
type Prefixes<T extends unknown[], Before extends unknown[] = []> = T extends [infer First, ...infer Rest]
  ? Before | Prefixes<Rest, [...Before, First]>
  : Before;
/** The argument lists among `P` that `A` accepts, each followed by SubmitOptions. */
type WithOptions<P, A> = P extends unknown[] ? (P extends A ? [...P, SubmitOptions] : never) : never;

/** Options of `map`, `starmap`, `imap`, `imapUnordered`. */
export interface MapOptions extends CallOptions {
  /**
   * Items per task: fewer messages for many small items. Default for
   * `map`/`starmap` as Python's (about four chunks per process), 1 for `imap`.
   */
  chunksize?: number;
}

/** How a worker that died while starting ended, for {@link WorkerDiedError}. */
export interface StartDeaths {
  /** Workers of its slot that died in a row while starting, this one included. */
  startDeaths: number;
  /** Why its process could not be made or started (EMFILE, EAGAIN), if that was how. */
  cause?: unknown;
}

/**
 * The error of a task whose worker process died while it held the task, or
 * of a task left waiting when every worker died while starting (`startDeaths`
 * given); `code` ERR_SHM_WORKER_DIED.
 */
export class WorkerDiedError extends ShmError {
  /** The worker's exit code, or null if a signal ended it. */
  readonly exitCode: number | null;
  /** The signal that ended it (e.g. 'SIGKILL'), or null. */
  readonly signal: NodeJS.Signals | null;
  readonly pid: number | undefined;

  constructor(pid: number | undefined, exitCode: number | null, signal: NodeJS.Signals | null, task: string, starting?: StartDeaths) {
    const how = signal !== null ? `signal ${signal}` : exitCode !== null ? `exit code ${exitCode}` : describeCause(starting?.cause);
    const message =
      starting === undefined
        ? `pool worker ${pid} died (${how}) while it held task ${JSON.stringify(task)}`
        : `${starting.startDeaths} pool workers in a row died while starting (the last: ${pid ?? 'no process'}, ${how}), so task ${JSON.stringify(task)} was not run; the next call starts workers again`;
    super(ErrorCodes.WORKER_DIED, message, { cause: starting?.cause });
    this.name = 'WorkerDiedError';
    this.exitCode = exitCode;
    this.signal = signal;
    this.pid = pid;
  }
}

/** What a call's `signal` and `timeout` come to. */
interface Limits {
  signal: AbortSignal | undefined;
  /** options.timeout (Infinity for none). */
  timeout: number;
  /** When it passes (performance.now()). */
  deadline: number;
  /** How the call is named in its timeout error: `pool.map("fn")`. */
  call: string;
}

/** The longest delay setTimeout keeps (longer ones fire at once): a timeout beyond it is waited for in steps. */
const MAX_TIMER_MS = INT32_MAX;

/** Chunks a worker may hold or have answered-but-not-yet-consumed per process, in imap/imapUnordered: bounds memory for any iterable. */
const IMAP_AHEAD_PER_PROCESS = 64;
const MAX_PROCESSES = 1024;
const BATCH_US = 500;
const MAX_BATCH = 256;
const ALONE_US = 2000;
/** How soon an idle worker looks again at tasks on their way to another (not yet claimed): see #steal. */
const RECHECK_MS = 1;
/**
 * Workers of one slot that may die in a row while starting (killed, exited
 * without reporting a failure, or not startable) before the slot is left
 * empty until the next call: a machine that kills every worker does not
 * make the pool spawn for ever.
 */
const MAX_START_DEATHS = 8;
/** The pause before the k-th replacement in a row (k >= 2): this doubled k - 2 times, at most MAX_REFILL_PAUSE_MS. */
const REFILL_PAUSE_MS = 50;
const MAX_REFILL_PAUSE_MS = 1000;

type State = 'open' | 'closing' | 'closed' | 'terminated' | 'broken';

/** Every pool that may still have workers: they are stopped when this process exits. */
const livePools = new Set<{ killWorkers(): void }>();
let exitHook = false;

/**
 * A pool of worker processes that run functions exported by a task module
 * (Python's `multiprocessing.Pool` and `ProcessPoolExecutor`). Functions
 * are named, not passed: a function cannot cross into another process, as
 * in Python they must be picklable by name. Arguments and results are
 * structured-cloneable values (typed arrays and Buffers travel as bytes);
 * shmkit objects travel as their names (`Array.open(name)` in the task).
 *
 * Type it with the module to check names, arguments and results:
 * `new Pool<typeof import('./tasks.mjs')>(url)`.
 */
export class Pool<M = Record<string, AnyFunction>> implements AsyncDisposable {
  readonly #processes: number;
  readonly #spawnOptions: ConstructorParameters<typeof WorkerProcess>[0];
  readonly #workers = new Set<WorkerProcess>();
  /** Tasks not yet sent, in order (from #head). */
  #queue: Task[] = [];
  #head = 0;
  #nextId = 1;
  #dispatchQueued = false;
  #state: State = 'open';
  /** Why the pool is broken or terminated: what every later call rejects with. */
  #failure: ShmError | undefined;
  #closing: Promise<void> | undefined;
  /** Microseconds a task of each function took, on average. */
  readonly #taskTimes = new Map<string, number>();
  /** For each worker not yet ready: how many before it in its slot died in a row while starting. */
  readonly #startDeaths = new Map<WorkerProcess, number>();
  /** Slots waiting to be filled again after a worker died starting. */
  readonly #refills = new Set<NodeJS.Timeout>();
  /** Slots left empty after MAX_START_DEATHS deaths in a row: the next call fills them. */
  #emptySlots = 0;
  #drained: (() => void) | undefined;
  /** A dispatch to come: an idle worker waits to see whether another starts a long task with tasks behind it. */
  #recheck: NodeJS.Timeout | undefined;

  /**
   * Starts the workers (they load the module in the background).
   * @param module the task module: a file URL (`new URL('./tasks.mjs', import.meta.url)`) or a file path.
   * @throws {ShmError} ENOENT if the module file does not exist; ERR_SHM_INVALID_ARG.
   */
  constructor(module: string | URL, options?: PoolOptions) {
    const moduleUrl = resolveModule(module);
    const opts = checkObject<PoolOptions>(options, 'options');
    this.#processes = opts.processes === undefined ? availableParallelism() : checkInteger(opts.processes, 'options.processes', 1, MAX_PROCESSES);
    const maxTasks = opts.maxTasksPerChild === undefined ? 0 : checkInteger(opts.maxTasksPerChild, 'options.maxTasksPerChild', 1, Number.MAX_SAFE_INTEGER);
    if (opts.initializer !== undefined && typeof opts.initializer !== 'string') {
      throw invalidArg(`options.initializer must be the name of an exported function, got ${describeValue(opts.initializer)}`);
    }
    const initargs = describeHandles(opts.initargs === undefined ? [] : checkArray(opts.initargs, 'options.initargs'));
    try {
      serialize(initargs);
    } catch (err) {
      throw invalidArg(`options.initargs cannot be sent to a worker: ${(err as Error).message}`);
    }
    if (opts.env !== undefined && (opts.env === null || typeof opts.env !== 'object')) throw invalidArg('options.env must be an object');
    const execArgv = opts.execArgv === undefined ? [] : checkArray(opts.execArgv, 'options.execArgv');
    if (!execArgv.every((arg) => typeof arg === 'string')) throw invalidArg('options.execArgv must be an array of strings');
    const capacity = opts.capacity === undefined ? 1 << 20 : checkInteger(opts.capacity, 'options.capacity', 1, 2 ** 30);
    this.#spawnOptions = {
      setup: { module: moduleUrl, initializer: opts.initializer, initargs, maxTasks, capacity, parent: currentProcess() },
      env: opts.env ?? process.env,
      execArgv: execArgv as string[],
      capacity,
    };
    watchProcessExit(this);
    try {
      for (let i = 0; i < this.#processes; i++) this.#spawn(0);
    } catch (err) {
      // A pool that could not be made leaves nothing: no worker, no name in /dev/shm.
      this.#state = 'terminated';
      this.#failure = new ShmError(ErrorCodes.CLOSED, 'the pool could not be created');
      this.killWorkers();
      livePools.delete(this);
      throw err;
    }
  }

  /** How many worker processes the pool keeps. */
  get processes(): number {
    return this.#processes;
  }

  /** Process ids of the workers now running. */
  get pids(): number[] {
    return [...this.#workers].flatMap((worker) => (worker.pid === undefined ? [] : [worker.pid]));
  }

  /**
   * Wraps the options of a `submit` call (`signal`, `timeout`), to pass
   * after the task's arguments: `pool.submit('fn', a, b, Pool.options({ timeout: 1000 }))`.
   */
  static options(options: CallOptions): SubmitOptions {
    return new SubmitOptions(options);
  }

  /** Runs `fn(...args)` in a worker (Python's `apply`). */
  apply<K extends TaskName<M>>(fn: K, args?: TaskArgs<M, K>, options?: CallOptions): Promise<TaskResult<M, K>> {
    return this.#applyWith('apply', fn, args, options) as Promise<TaskResult<M, K>>;
  }

  /**
   * Runs `fn(...args)` in a worker and returns its promise
   * (ProcessPoolExecutor's `submit`). Options go last, wrapped:
   * `submit(fn, ...args, Pool.options({ signal, timeout }))`.
   */
  submit<K extends TaskName<M>>(fn: K, ...args: SubmitArgs<TaskArgs<M, K>>): Promise<TaskResult<M, K>> {
    const wrapped = SubmitOptions.unwrap(args[args.length - 1]);
    if (wrapped === undefined) return this.#applyWith('submit', fn, args, undefined) as Promise<TaskResult<M, K>>;
    return this.#applyWith('submit', fn, args.slice(0, -1), wrapped.options) as Promise<TaskResult<M, K>>;
  }

  #applyWith(call: string, fn: unknown, args: unknown, options: unknown): Promise<unknown> {
    let name: string;
    let argList: unknown[];
    let limits: Limits | undefined;
    try {
      this.#checkUsable();
      name = checkFunctionName(fn);
      argList = args === undefined ? [] : checkArray(args, 'args');
      limits = callLimits(options, `pool.${call}(${JSON.stringify(name)})`);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#runOne(name, argList, limits);
  }

  /**
   * `fn(item)` for every item, results in order (Python's `map`). The
   * iterable is read whole first; items go in chunks of `chunksize`.
   * Rejects with the first error a task throws (its other chunks not yet sent are dropped).
   */
  map<K extends TaskName<M>>(
    fn: K,
    iterable: Iterable<TaskArgs<M, K>[0]> | AsyncIterable<TaskArgs<M, K>[0]>,
    options?: MapOptions,
  ): Promise<TaskResult<M, K>[]> {
    return this.#call(() => this.#mapAll('map', fn, Mode.each, iterable, options) as Promise<TaskResult<M, K>[]>);
  }

  /** `fn(...args)` for every argument list, results in order (Python's `starmap`). */
  starmap<K extends TaskName<M>>(fn: K, iterable: Iterable<TaskArgs<M, K>> | AsyncIterable<TaskArgs<M, K>>, options?: MapOptions): Promise<TaskResult<M, K>[]> {
    return this.#call(() => this.#mapAll('starmap', fn, Mode.eachSpread, iterable, options) as Promise<TaskResult<M, K>[]>);
  }

  /**
   * Like `map`, lazily: yields results in order as they come, reading the
   * iterable (sync or async, possibly endless) only as far as needed to
   * keep at most 64 chunks per process in flight or waiting to be consumed.
   * Breaking out of the loop drops the chunks not yet sent.
   */
  imap<K extends TaskName<M>>(
    fn: K,
    iterable: Iterable<TaskArgs<M, K>[0]> | AsyncIterable<TaskArgs<M, K>[0]>,
    options?: MapOptions,
  ): AsyncGenerator<TaskResult<M, K>, void, undefined> {
    return this.#stream(fn, iterable, options, true) as AsyncGenerator<TaskResult<M, K>, void, undefined>;
  }

  /** Like `imap`, yielding results as they complete (Python's `imap_unordered`, `as_completed`). */
  imapUnordered<K extends TaskName<M>>(
    fn: K,
    iterable: Iterable<TaskArgs<M, K>[0]> | AsyncIterable<TaskArgs<M, K>[0]>,
    options?: MapOptions,
  ): AsyncGenerator<TaskResult<M, K>, void, undefined> {
    return this.#stream(fn, iterable, options, false) as AsyncGenerator<TaskResult<M, K>, void, undefined>;
  }

  /**
   * Accepts no more tasks, lets the queued ones finish, then stops the
   * workers and resolves once they have exited (Python's `close()` then
   * `join()`). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeGracefully();
    return this.#closing;
  }

  /**
   * Stops the workers now (SIGKILL): every task not finished rejects with
   * ERR_SHM_CLOSED. Resolves once they have exited; need not be awaited.
   */
  terminate(): Promise<void> {
    if (this.#state !== 'closed' && this.#state !== 'terminated') {
      const wasBroken = this.#state === 'broken';
      this.#state = 'terminated';
      if (!wasBroken) this.#failure = new ShmError(ErrorCodes.CLOSED, 'the pool was terminated');
      this.#failAll(this.#failure as ShmError);
    }
    return this.#stopped();
  }

  /** `await using pool = new Pool(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs a public call: errors from checks become the promise's rejection, never a throw. */
  async #call<T>(body: () => Promise<T>): Promise<T> {
    this.#checkUsable();
    return body();
  }

  #checkUsable(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#state !== 'open') throw new ShmError(ErrorCodes.CLOSED, 'the pool is closed: it accepts no new tasks');
  }

  async #mapAll(call: string, fn: unknown, mode: Mode, iterable: unknown, options: MapOptions | undefined): Promise<unknown[]> {
    const name = checkFunctionName(fn);
    const opts = checkObject<MapOptions>(options, 'options');
    const limits = callLimits(opts, `pool.${call}(${JSON.stringify(name)})`);
    const items = await collect(iterable, limits);
    if (mode === Mode.eachSpread) items.forEach((args, i) => void checkArray(args, `item ${i} (an argument list)`));
    // Python's rule: about four chunks per process.
    const chunksize = opts.chunksize === undefined ? Math.max(1, Math.ceil(items.length / (this.#processes * 4))) : checkChunksize(opts.chunksize);
    const chunks: unknown[][] = [];
    for (let at = 0; at < items.length; at += chunksize) chunks.push(items.slice(at, at + chunksize));
    const results = await this.#runAll(name, mode, chunks, limits);
    return results.flat(1);
  }

  /** Runs one call: the cheapest path, one promise and one task (many tiny tasks go this way). */
  #runOne(fn: string, args: unknown[], limits: Limits | undefined): Promise<unknown> {
    if (limits === undefined) {
      return new Promise((resolve, reject) => this.#enqueue(this.#task(fn, Mode.call, args, resolve, reject, false)));
    }
    return this.#runAll(fn, Mode.call, [args], limits).then((results) => results[0]);
  }

  /**
   * Runs one task per payload; resolves with their results in order, or
   * rejects with the first failure (its other tasks are dropped), the
   * abort, or the timeout (its other tasks are dropped and a running one
   * ended).
   */
  #runAll(fn: string, mode: Mode, payloads: unknown[][], limits: Limits | undefined): Promise<unknown[]> {
    try {
      this.#checkUsable();
      if (limits !== undefined) checkLimits(limits);
    } catch (err) {
      return Promise.reject(err);
    }
    const signal = limits?.signal;
    return new Promise((resolve, reject) => {
      const results = new Array<unknown>(payloads.length);
      let left = payloads.length;
      let over = false;
      const tasks: Task[] = [];
      let stopTimer: (() => void) | undefined;
      const finish = (error: unknown, failed: boolean, end: boolean) => {
        over = true;
        signal?.removeEventListener('abort', onAbort);
        stopTimer?.();
        if (!failed) return resolve(results);
        this.#drop(tasks, end);
        reject(error);
      };
      const onAbort = () => finish(abortError(signal as AbortSignal), true, true);
      const failed = (error: unknown) => {
        if (!over) finish(error, true, false);
      };
      payloads.forEach((payload, i) => {
        const done = (value: unknown) => {
          if (over) return;
          results[i] = value;
          if (--left === 0) finish(undefined, false, false);
        };
        tasks.push(this.#task(fn, mode, payload, done, failed, limits !== undefined));
      });
      if (left === 0) return resolve(results);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (limits !== undefined && limits.timeout !== Infinity) {
        stopTimer = after(limits.deadline, () => finish(timeoutError(limits), true, true));
      }
      for (const task of tasks) this.#enqueue(task);
    });
  }

  async *#stream(fn: unknown, iterable: unknown, options: MapOptions | undefined, ordered: boolean): AsyncGenerator<unknown, void, undefined> {
    this.#checkUsable();
    const name = checkFunctionName(fn);
    const opts = checkObject<MapOptions>(options, 'options');
    const limits = callLimits(opts, `pool.${ordered ? 'imap' : 'imapUnordered'}(${JSON.stringify(name)})`);
    if (limits !== undefined) checkLimits(limits);
    const chunksize = opts.chunksize === undefined ? 1 : checkChunksize(opts.chunksize);
    const source = chunks(iterable, chunksize);
    const limit = this.#processes * IMAP_AHEAD_PER_PROCESS;
    /** Answered chunks not yet yielded, by index (insertion order = completion order). */
    const answered = new Map<number, { ok: boolean; value: unknown }>();
    const running = new Map<number, Task>();
    let wake: (() => void) | undefined;
    // An abort or a timeout ends the running tasks at once, even while the consumer is away; the next step throws.
    let stopped: { error: unknown } | undefined;
    const stop = (error: unknown) => {
      if (stopped !== undefined) return;
      stopped = { error };
      this.#drop(running.values(), true);
      wake?.();
    };
    const signal = limits?.signal;
    const onAbort = () => stop(abortError(signal as AbortSignal));
    signal?.addEventListener('abort', onAbort, { once: true });
    const stopTimer = limits !== undefined && limits.timeout !== Infinity ? after(limits.deadline, () => stop(timeoutError(limits))) : undefined;
    let sent = 0;
    let consumed = 0;
    let exhausted = false;
    try {
      for (;;) {
        while (!exhausted && sent - consumed < limit) {
          const next = await source.next();
          if (stopped !== undefined) throw stopped.error;
          if (next.done) {
            exhausted = true;
            break;
          }
          const index = sent++;
          const settle = (ok: boolean) => (value: unknown) => {
            running.delete(index);
            answered.set(index, { ok, value });
            wake?.();
          };
          const task = this.#task(name, Mode.each, next.value, settle(true), settle(false), limits !== undefined);
          running.set(index, task);
          this.#enqueue(task);
        }
        if (exhausted && consumed === sent) return;
        let entry: { ok: boolean; value: unknown } | undefined;
        for (;;) {
          if (stopped !== undefined) throw stopped.error;
          const key = ordered ? consumed : answered.keys().next().value;
          entry = key === undefined ? undefined : answered.get(key);
          if (entry !== undefined) {
            answered.delete(key as number);
            break;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        consumed += 1;
        if (!entry.ok) throw entry.value;
        yield* entry.value as unknown[];
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stopTimer?.();
      // Left early (break, an error): what has not started is dropped, what runs finishes unseen.
      this.#drop(running.values(), false);
      this.#checkDrained();
      await source.return(undefined);
    }
  }

  /**
   * A task; shmkit handles in its payload go as descriptions (lib/core/transfer.ts) that the worker opens.
   * @throws {ShmError} ERR_SHM_INVALID_ARG for a handle that cannot travel (closed)
   */
  #task(fn: string, mode: Mode, payload: unknown[], resolve: Task['resolve'], reject: Task['reject'], endable: boolean): Task {
    const described = describeHandles(payload);
    const handles = described !== payload;
    return { id: this.#nextId++, mode, fn, payload: described, cancelled: false, endable, handles, worker: undefined, seq: 0, alone: false, resolve, reject };
  }

  #enqueue(task: Task): void {
    if (this.#failure !== undefined) {
      task.reject(this.#failure);
      return;
    }
    if (this.#emptySlots > 0 && this.#state === 'open') this.#fillEmptySlots();
    this.#queue.push(task);
    this.#dispatchSoon();
  }

  /** Dispatches in a microtask: tasks added in the same tick (a loop of submit()) leave as one batch. */
  #dispatchSoon(): void {
    if (this.#dispatchQueued) return;
    this.#dispatchQueued = true;
    queueMicrotask(() => {
      this.#dispatchQueued = false;
      this.#dispatch();
    });
  }

  /**
   * Tasks their call no longer wants: queued ones are skipped when their
   * turn comes; sent ones their worker has not started are taken back (they
   * never run); with `end`, one that is running is ended by killing its
   * worker (a timeout, an abort), which is then replaced.
   */
  #drop(tasks: Iterable<Task>, end: boolean): void {
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
    if (ending !== undefined) for (const [worker, running] of ending) this.#end(worker, running);
    this.#checkDrained();
    this.#dispatchSoon();
  }

  /**
   * Ends a task that runs too long by killing its worker. First everything
   * the worker has not started goes back to the queue, so that nothing else
   * starts there and dies with it (the answers of the tasks it ran before
   * were sent ahead of this one: worker.ts); then, if the task still runs
   * (it may just have finished), the worker is killed and later replaced.
   */
  #end(worker: WorkerProcess, running: Task[]): void {
    this.#requeue(worker.takeBackUnstarted(Infinity).filter((task) => !task.cancelled));
    if (running.some((task) => worker.isRunning(task))) worker.end();
  }

  /**
   * Sends queued tasks to the workers with room, the least loaded first, in
   * batches; once nothing is queued, an idle worker takes over tasks
   * another has not started (#steal).
   */
  #dispatch(): void {
    this.#feed();
    if (this.#queue.length === this.#head && this.#steal()) this.#feed();
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#checkDrained();
  }

  #feed(): void {
    for (;;) {
      this.#skipCancelled();
      const waiting = this.#queue.length - this.#head;
      if (waiting === 0) break;
      const fn = (this.#queue[this.#head] as Task).fn;
      const { batch: size, window } = this.#limits(fn);
      const alone = window === 1;
      // A worker takes a batch when it has room for a whole one (or holds nothing). Nothing goes
      // behind a task sent alone: it may run for long while another worker idles.
      const open = [...this.#workers].filter(
        (worker) => worker.quota > 0 && (worker.load === 0 || (!alone && !worker.holdsAlone && window - worker.load >= size)),
      );
      if (open.length === 0) break;
      open.sort((a, b) => a.load - b.load);
      let progress = false;
      for (let i = 0; i < open.length && this.#head < this.#queue.length; i++) {
        const worker = open[i] as WorkerProcess;
        const share = Math.ceil((this.#queue.length - this.#head) / (open.length - i));
        const batch = this.#take(Math.min(window - worker.load, size, worker.quota, share), fn);
        if (batch.length === 0) break;
        progress = this.#sendTo(worker, batch, alone) || progress;
      }
      if (!progress) break;
    }
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
    if (inTransit && this.#recheck === undefined) {
      this.#recheck = setTimeout(() => {
        this.#recheck = undefined;
        this.#dispatch();
      }, RECHECK_MS);
      this.#recheck.unref();
    }
    return stole;
  }

  /** Up to `n` tasks of function `fn` from the front of the queue, skipping cancelled ones. */
  #take(n: number, fn: string): Task[] {
    const batch: Task[] = [];
    while (batch.length < n && this.#head < this.#queue.length) {
      const task = this.#queue[this.#head] as Task;
      if (!task.cancelled && task.fn !== fn) break;
      this.#head++;
      if (!task.cancelled) batch.push(task);
    }
    return batch;
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
  #limits(fn: string): { batch: number; window: number } {
    const us = this.#taskTimes.get(fn);
    if (us === undefined || us >= ALONE_US) return { batch: 1, window: 1 };
    const batch = Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_US / Math.max(us, 1))));
    return { batch, window: 2 * batch };
  }

  /** Learns how long tasks of each function take (a moving average, from the workers' own clocks). */
  #timeTasks(tasks: Task[], answers: Reply): void {
    for (let i = 0; i < tasks.length; i++) {
      const fn = (tasks[i] as Task).fn;
      const us = answers[i * REPLY_FIELDS + ReplyField.micros] as number;
      const average = this.#taskTimes.get(fn);
      this.#taskTimes.set(fn, average === undefined ? us : average * 0.8 + us * 0.2);
    }
  }

  /** Sends a batch (`alone`: nothing is to go behind it); what the worker cannot take now goes back to the front. True if any went. */
  #sendTo(worker: WorkerProcess, batch: Task[], alone: boolean): boolean {
    let sent: number;
    try {
      sent = worker.send(batch, alone);
    } catch (err) {
      // This one task cannot travel (not cloneable, larger than the pipe): it fails alone.
      (batch[0] as Task).reject(err);
      this.#requeue(batch.slice(1));
      return true;
    }
    this.#requeue(batch.slice(sent));
    return sent > 0;
  }

  /** Puts tasks back at the front of the queue, in their order. */
  #requeue(tasks: Task[]): void {
    if (tasks.length === 0) return;
    if (this.#head >= tasks.length) {
      this.#head -= tasks.length;
      for (let i = 0; i < tasks.length; i++) this.#queue[this.#head + i] = tasks[i] as Task;
    } else {
      this.#queue = [...tasks, ...this.#queue.slice(this.#head)];
      this.#head = 0;
    }
  }

  #skipCancelled(): void {
    while (this.#head < this.#queue.length && (this.#queue[this.#head] as Task).cancelled) this.#head++;
  }

  /** Starts a worker in a slot whose last `startDeaths` workers died while starting. Throws what creating it threw. */
  #spawn(startDeaths: number): void {
    const worker = new WorkerProcess(this.#spawnOptions, {
      ready: (ready) => {
        this.#startDeaths.delete(ready);
        this.#dispatch();
      },
      answered: (_worker, tasks, answers) => this.#answered(tasks, answers),
      exited: (exited, exit, held, notStarted) => this.#exited(exited, exit, held, notStarted),
    });
    this.#workers.add(worker);
    this.#startDeaths.set(worker, startDeaths);
  }

  /** Fills a slot again; a worker that cannot even be made (EMFILE, ENOSPC) counts as one that died starting. */
  #replace(startDeaths: number): void {
    try {
      this.#spawn(startDeaths);
    } catch (err) {
      this.#diedStarting(startDeaths + 1, { pid: undefined, code: null, signal: null, cause: err });
    }
  }

  /**
   * A worker died before it was ready and did not report that its module
   * or initializer failed: killed (the OOM killer), exited, or not
   * startable. That is the machine's doing, not the module's, so its slot is
   * filled again, after a pause that grows with each death in a row. After
   * MAX_START_DEATHS in a row the slot stays empty until the next call; once
   * no slot has a worker or a refill coming, the waiting tasks fail with
   * ERR_SHM_WORKER_DIED (the pool stays usable).
   */
  #diedStarting(deaths: number, death: { pid: number | undefined; code: number | null; signal: NodeJS.Signals | null; cause?: unknown }): void {
    if (deaths < MAX_START_DEATHS) {
      this.#refillLater(deaths);
      return;
    }
    this.#emptySlots += 1;
    if (this.#workers.size > 0 || this.#refills.size > 0) return;
    this.#failAll((task) => new WorkerDiedError(death.pid, death.code, death.signal, task.fn, { startDeaths: deaths, cause: death.cause }));
  }

  /** Fills a slot after its `deaths`-th worker in a row died starting: at once after the first, then after a growing pause. */
  #refillLater(deaths: number): void {
    const pause = deaths < 2 ? 0 : Math.min(MAX_REFILL_PAUSE_MS, REFILL_PAUSE_MS * 2 ** (deaths - 2));
    const timer = setTimeout(() => {
      this.#refills.delete(timer);
      const workLeft = this.#queue.length > this.#head;
      if (this.#state === 'open' || (this.#state === 'closing' && workLeft)) this.#replace(deaths);
    }, pause);
    this.#refills.add(timer);
  }

  /** A call made while slots are empty starts their workers again, each slot with a fresh allowance of deaths. */
  #fillEmptySlots(): void {
    const slots = this.#emptySlots;
    this.#emptySlots = 0;
    for (let i = 0; i < slots; i++) this.#replace(0);
  }

  #cancelRefills(): void {
    for (const timer of this.#refills) clearTimeout(timer);
    this.#refills.clear();
  }

  #answered(tasks: Task[], answers: Reply): void {
    this.#timeTasks(tasks, answers);
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i] as Task;
      if (task.cancelled) continue;
      const at = i * REPLY_FIELDS;
      const status = answers[at + ReplyField.status];
      const value = answers[at + ReplyField.value];
      if (status === Status.ok) task.resolve(value);
      else if (status === Status.okHandles) openHandles(value).then(task.resolve, task.reject);
      else task.reject(rebuildError(value as ErrorRecord));
    }
    this.#dispatch();
  }

  #exited(worker: WorkerProcess, exit: WorkerExit, held: Task[], notStarted: Task[]): void {
    this.#workers.delete(worker);
    const startDeaths = this.#startDeaths.get(worker) ?? 0;
    this.#startDeaths.delete(worker);
    if (this.#state === 'terminated' || this.#state === 'broken') {
      this.#failAll(this.#failure as ShmError, [...held, ...notStarted]);
      return;
    }
    if (exit.requested) {
      // stop() after the work was done, or kill(): nothing to replace.
      this.#requeue([...held, ...notStarted]);
      this.#dispatch();
      return;
    }
    if (exit.fatal !== undefined) {
      this.#startFailed(worker, exit.fatal, [...held, ...notStarted]);
      return;
    }
    if (!exit.wasReady) {
      // It started none of its tasks.
      this.#requeue([...held, ...notStarted]);
      this.#diedStarting(startDeaths + 1, { pid: worker.pid, code: exit.code, signal: exit.signal, cause: exit.spawnError });
      this.#dispatch();
      return;
    }
    for (const task of held) if (!task.cancelled) task.reject(new WorkerDiedError(worker.pid, exit.code, exit.signal, task.fn));
    this.#requeue(notStarted);
    const workLeft = this.#queue.length > this.#head;
    if (this.#state === 'open' || workLeft) this.#replace(0);
    this.#dispatch();
  }

  /**
   * A worker reported that its module or initializer failed (FATAL): every
   * replacement would fail alike, so the pool fails instead of retrying
   * for ever.
   */
  #startFailed(worker: WorkerProcess, fatal: ErrorRecord, tasks: Task[]): void {
    this.#state = 'broken';
    this.#failure = startFailure(worker, fatal);
    this.#failAll(this.#failure, tasks);
  }

  /**
   * Rejects every queued and sent task with `error` (or the error made for
   * each task), kills the workers and drops pending refills.
   */
  #failAll(error: ShmError | ((task: Task) => ShmError), more: Task[] = []): void {
    const tasks = [...this.#queue.slice(this.#head), ...more];
    this.#queue = [];
    this.#head = 0;
    this.#cancelRefills();
    for (const worker of this.#workers) {
      tasks.push(...worker.takeUnanswered());
      worker.kill();
    }
    for (const task of tasks) if (!task.cancelled) task.reject(typeof error === 'function' ? error(task) : error);
    this.#checkDrained();
  }

  async #closeGracefully(): Promise<void> {
    if (this.#state === 'open') this.#state = 'closing';
    await new Promise<void>((resolve) => {
      this.#drained = resolve;
      this.#checkDrained();
    });
    this.#cancelRefills();
    for (const worker of this.#workers) worker.stop();
    await this.#stopped();
    if (this.#state === 'closing') this.#state = 'closed';
  }

  /** Resolves close()'s wait once nothing is queued or out. */
  #checkDrained(): void {
    if (this.#drained === undefined) return;
    this.#skipCancelled();
    if (this.#queue.length > this.#head) return;
    for (const worker of this.#workers) if (worker.load > 0) return;
    const drained = this.#drained;
    this.#drained = undefined;
    drained();
  }

  /** Resolves once every worker has exited. */
  async #stopped(): Promise<void> {
    while (this.#workers.size > 0) await Promise.all([...this.#workers].map((worker) => worker.ended));
    livePools.delete(this);
  }

  /** @internal Stops the workers at once (this process is exiting). */
  killWorkers(): void {
    for (const worker of this.#workers) worker.kill();
  }
}

function startFailure(worker: WorkerProcess, fatal: ErrorRecord): ShmError {
  const cause = rebuildError(fatal);
  const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : describeValue(cause);
  return new ShmError(ErrorCodes.WORKER_START, `pool worker ${worker.pid} could not start: ${reason}`, { cause });
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? `could not be started: ${cause.message}` : 'it ended';
}

function watchProcessExit(pool: { killWorkers(): void }): void {
  livePools.add(pool);
  if (exitHook) return;
  exitHook = true;
  // Workers also notice a dead parent through their pipe; this stops them at once, even mid-task.
  process.on('exit', () => {
    for (const live of livePools) live.killWorkers();
  });
}

/** The module's file URL: from a URL (file: only) or a path (relative to the working directory). */
export function resolveModule(module: unknown): string {
  let url: URL;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && module.length > 0) url = /^[a-z][a-z0-9+.-]*:/i.test(module) ? new URL(module) : pathToFileURL(resolvePath(module));
  else throw invalidArg(`module must be a file URL or a path, got ${describeValue(module)}`);
  if (url.protocol !== 'file:') throw invalidArg(`module must be a file: URL, got ${url.protocol} (workers load it from disk)`);
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    // The usual cause: a path relative to the caller's file, taken from the working directory instead.
    const relative = typeof module === 'string' && !isAbsolute(module);
    const hint = relative
      ? ` (a relative path is taken from the working directory, ${process.cwd()}; for a file beside your module pass new URL(${JSON.stringify(module)}, import.meta.url))`
      : '';
    throw new ShmError('ENOENT', `the task module ${path} does not exist${hint}`);
  }
  return url.href;
}

function checkFunctionName(fn: unknown): string {
  if (typeof fn !== 'string' || fn.length === 0) {
    throw invalidArg(`fn must be the name of a function the task module exports (functions cannot cross processes), got ${describeValue(fn)}`);
  }
  return fn;
}

export function checkArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw invalidArg(`${what} must be an array, got ${describeValue(value)}`);
  return value;
}

function checkChunksize(value: unknown): number {
  return checkInteger(value, 'options.chunksize', 1, INT32_MAX);
}

function isIterable(value: unknown): value is Iterable<unknown> | AsyncIterable<unknown> {
  if (value === null || value === undefined) return false;
  const v = value as Record<symbol, unknown>;
  return typeof v[Symbol.iterator] === 'function' || typeof v[Symbol.asyncIterator] === 'function';
}

/** All items of a sync or async iterable. */
async function collect(iterable: unknown, limits: Limits | undefined): Promise<unknown[]> {
  if (Array.isArray(iterable)) return iterable;
  if (!isIterable(iterable)) throw invalidArg(`iterable must be iterable (sync or async), got ${describeValue(iterable)}`);
  const items: unknown[] = [];
  for await (const item of iterable) {
    if (limits !== undefined) checkLimits(limits);
    items.push(item);
  }
  return items;
}

/** A call's `signal` and `timeout`, checked; undefined if it has neither. The deadline starts now. */
function callLimits(options: unknown, call: string): Limits | undefined {
  const opts = checkObject<CallOptions>(options, 'options');
  const signal = checkSignal(opts.signal);
  const timeout = checkTimeout(opts.timeout, 'options.timeout');
  if (signal === undefined && timeout === Infinity) return undefined;
  return { signal, timeout, deadline: performance.now() + timeout, call };
}

/** Throws the AbortError of an aborted signal, or ERR_SHM_TIMEOUT once the deadline has passed. */
function checkLimits(limits: Limits): void {
  if (limits.signal?.aborted) throw abortError(limits.signal);
  if (limits.timeout !== Infinity && performance.now() >= limits.deadline) throw timeoutError(limits);
}

function timeoutError(limits: Limits): ShmError {
  return new ShmError(
    ErrorCodes.TIMEOUT,
    `${limits.call} did not finish within options.timeout (${limits.timeout} ms): its tasks not started were dropped and any still running ended (their workers replaced)`,
  );
}

/** Calls `fire` once `deadline` (performance.now()) has passed, without keeping the program alive; returns the cancel. */
function after(deadline: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const ms = deadline - performance.now();
    if (ms <= 0) return fire();
    timer = setTimeout(arm, Math.min(Math.ceil(ms), MAX_TIMER_MS));
    timer.unref();
  };
  timer = setTimeout(arm, Math.min(Math.max(0, Math.ceil(deadline - performance.now())), MAX_TIMER_MS));
  timer.unref();
  return () => clearTimeout(timer);
}

/** Arrays of `size` items from a sync or async iterable, read only as they are asked for. */
async function* chunks(iterable: unknown, size: number): AsyncGenerator<unknown[], void, undefined> {
  if (!isIterable(iterable)) throw invalidArg(`iterable must be iterable (sync or async), got ${describeValue(iterable)}`);
  let chunk: unknown[] = [];
  for await (const item of iterable) {
    chunk.push(item);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

// Pool: Python's multiprocessing.Pool / ProcessPoolExecutor for Node. This
// file is its API: the calls, their options and checks, and how each call's
// tasks come back as its promise or its results. Workers are separate node
// processes, each with its own shmkit Pipe, over which the parent sends
// batches of tasks and the worker answers each task in turn (protocol.ts,
// worker.ts). Which worker gets what is the scheduler's (scheduler.ts); the
// workers' births, deaths and replacements are their lifecycle's (workers.ts).
import { availableParallelism } from 'node:os';
import { serialize } from 'node:v8';
import { currentProcess } from '../core/current.js';
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { describeHandles } from '../core/transfer.js';
import { checkInteger, checkObject } from '../core/validate.js';
import { checkArray, checkChunksize, checkFunctionName, resolveModule } from './checks.js';
import { ChunkStream } from './chunk-stream.js';
import { openHandles } from './handle-kinds.js';
import { chunks, collect } from './iterables.js';
import { callLimits, checkLimits, describeCall, type Limits, watchLimits } from './limits.js';
import { type ErrorRecord, Mode, REPLY_FIELDS, type Reply, ReplyField, rebuildError, Status } from './protocol.js';
import { Scheduler } from './scheduler.js';
import type { SpawnOptions, Task, WorkerProcess } from './worker-process.js';
import { type PoolState, Workers } from './workers.js';

// lib/process/ checks its module and arguments as a Pool does.
export { checkArray, resolveModule } from './checks.js';
export { type StartDeaths, WorkerDiedError } from './worker-errors.js';

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

/** The items of a `map`, `imap` or `imapUnordered` call of `M`'s export `K`: each its first argument. */
type TaskItems<M, K extends keyof M> = Iterable<TaskArgs<M, K>[0]> | AsyncIterable<TaskArgs<M, K>[0]>;
/** What `imap` and `imapUnordered` of `M`'s export `K` yield. */
type TaskResults<M, K extends keyof M> = AsyncGenerator<TaskResult<M, K>, void, undefined>;

/** Chunks a worker may hold or have answered-but-not-yet-consumed per process, in imap/imapUnordered: bounds memory for any iterable. */
const IMAP_AHEAD_PER_PROCESS = 64;
const MAX_PROCESSES = 1024;

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
  readonly #scheduler: Scheduler;
  readonly #workers: Workers;
  #nextId = 1;
  #state: PoolState = 'open';
  /** Why the pool is broken or terminated: what every later call rejects with. */
  #failure: ShmError | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Starts the workers (they load the module in the background).
   * @param module the task module: a file URL (`new URL('./tasks.mjs', import.meta.url)`) or a file path.
   * @throws {ShmError} ENOENT if the module file does not exist; ERR_SHM_INVALID_ARG.
   */
  constructor(module: string | URL, options?: PoolOptions) {
    const moduleUrl = resolveModule(module);
    const opts = checkObject<PoolOptions>(options, 'options');
    this.#processes = opts.processes === undefined ? availableParallelism() : checkInteger(opts.processes, 'options.processes', 1, MAX_PROCESSES);
    const live = new Set<WorkerProcess>();
    this.#scheduler = new Scheduler(live);
    this.#workers = new Workers(live, spawnOptions(moduleUrl, opts), this.#scheduler, {
      state: () => this.#state,
      failure: () => this.#failure,
      answered: (tasks, answers) => this.#answered(tasks, answers),
      broke: (failure) => {
        this.#state = 'broken';
        this.#failure = failure;
      },
    });
    try {
      this.#workers.start(this.#processes);
    } catch (err) {
      // A pool that could not be made leaves nothing: no worker, no name in /dev/shm.
      this.#state = 'terminated';
      this.#failure = new ShmError(ErrorCodes.CLOSED, 'the pool could not be created');
      throw err;
    }
  }

  /** How many worker processes the pool keeps. */
  get processes(): number {
    return this.#processes;
  }

  /** Process ids of the workers now running. */
  get pids(): number[] {
    return this.#workers.pids;
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

  /**
   * `fn(item)` for every item, results in order (Python's `map`). The
   * iterable is read whole first; items go in chunks of `chunksize`.
   * Rejects with the first error a task throws (its other chunks not yet sent are dropped).
   */
  map<K extends TaskName<M>>(fn: K, iterable: TaskItems<M, K>, options?: MapOptions): Promise<TaskResult<M, K>[]> {
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
  imap<K extends TaskName<M>>(fn: K, iterable: TaskItems<M, K>, options?: MapOptions): TaskResults<M, K> {
    return this.#stream(fn, iterable, options, true) as TaskResults<M, K>;
  }

  /** Like `imap`, yielding results as they complete (Python's `imap_unordered`, `as_completed`). */
  imapUnordered<K extends TaskName<M>>(fn: K, iterable: TaskItems<M, K>, options?: MapOptions): TaskResults<M, K> {
    return this.#stream(fn, iterable, options, false) as TaskResults<M, K>;
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
      this.#workers.failAll(this.#failure as ShmError);
    }
    return this.#workers.stopped();
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

  #applyWith(method: string, fn: unknown, args: unknown, options: unknown): Promise<unknown> {
    let name: string;
    let argList: unknown[];
    let limits: Limits | undefined;
    try {
      this.#checkUsable();
      name = checkFunctionName(fn);
      argList = args === undefined ? [] : checkArray(args, 'args');
      limits = callLimits(options, describeCall(method, name));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#runOne(name, argList, limits);
  }

  async #mapAll(method: string, fn: unknown, mode: Mode, iterable: unknown, options: MapOptions | undefined): Promise<unknown[]> {
    const name = checkFunctionName(fn);
    const opts = checkObject<MapOptions>(options, 'options');
    const limits = callLimits(opts, describeCall(method, name));
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
    return new Promise((resolve, reject) => {
      const results = new Array<unknown>(payloads.length);
      let left = payloads.length;
      let over = false;
      const tasks: Task[] = [];
      let unwatch: (() => void) | undefined;
      const finish = (error: unknown, failed: boolean, end: boolean) => {
        over = true;
        unwatch?.();
        if (!failed) return resolve(results);
        this.#scheduler.drop(tasks, end);
        reject(error);
      };
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
      unwatch = watchLimits(limits, (error) => finish(error, true, true));
      for (const task of tasks) this.#enqueue(task);
    });
  }

  /** imap and imapUnordered: chunks of the iterable go as tasks as the consumer asks for more (chunk-stream.ts). */
  async *#stream(fn: unknown, iterable: unknown, options: MapOptions | undefined, ordered: boolean): AsyncGenerator<unknown, void, undefined> {
    this.#checkUsable();
    const name = checkFunctionName(fn);
    const opts = checkObject<MapOptions>(options, 'options');
    const limits = callLimits(opts, describeCall(ordered ? 'imap' : 'imapUnordered', name));
    if (limits !== undefined) checkLimits(limits);
    const chunksize = opts.chunksize === undefined ? 1 : checkChunksize(opts.chunksize);
    const source = chunks(iterable, chunksize);
    const stream = new ChunkStream(ordered, {
      task: (chunk, resolve, reject) => this.#task(name, Mode.each, chunk, resolve, reject, limits !== undefined),
      enqueue: (task) => this.#enqueue(task),
      drop: (tasks, end) => this.#scheduler.drop(tasks, end),
    });
    const unwatch = watchLimits(limits, (error) => stream.stop(error));
    try {
      yield* stream.results(source, this.#processes * IMAP_AHEAD_PER_PROCESS);
    } finally {
      unwatch();
      stream.leave();
      this.#scheduler.checkDrained();
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
    if (this.#state === 'open') this.#workers.fillEmptySlots();
    this.#scheduler.enqueue(task);
  }

  #answered(tasks: Task[], answers: Reply): void {
    this.#scheduler.learn(tasks, answers);
    settle(tasks, answers);
    this.#scheduler.dispatch();
  }

  async #closeGracefully(): Promise<void> {
    if (this.#state === 'open') this.#state = 'closing';
    await this.#scheduler.drained();
    this.#workers.stopAll();
    await this.#workers.stopped();
    if (this.#state === 'closing') this.#state = 'closed';
  }
}

/** The options every worker is started with, from the Pool's, checked. */
function spawnOptions(moduleUrl: string, opts: PoolOptions): SpawnOptions {
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
  return {
    setup: { module: moduleUrl, initializer: opts.initializer, initargs, maxTasks, capacity, parent: currentProcess() },
    env: opts.env ?? process.env,
    execArgv: execArgv as string[],
    capacity,
  };
}

/** Settles each task with its answer (REPLY_FIELDS each, in the order of `tasks`); a cancelled task's is dropped. */
function settle(tasks: Task[], answers: Reply): void {
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
}

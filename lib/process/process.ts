// Process: Python's multiprocessing.Process for Node. The target is an
// export of a module, as a Pool task is; the child is started, fed and made
// to die with its parent as a Pool worker is: a separate node process with
// its own shmkit Pipe (setup in, READY and the result out), armed with
// exitWithParent when it is a daemon.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Pipe } from '../channel/pipe.js';
import { currentProcess, type ProcessInfo } from '../core/current.js';
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { unlinkSegment } from '../core/segment.js';
import { describeHandles } from '../core/transfer.js';
import { checkBoolean, checkInteger, checkObject, checkTimeout, INT32_MAX } from '../core/validate.js';
import { openHandles } from '../pool/handle-kinds.js';
import { checkArray, resolveModule, type TaskArgs, type TaskName, type TaskResult } from '../pool/pool.js';
import { crossingError, type ErrorRecord, rebuildError, Status } from '../pool/protocol.js';
import { abortError, checkSignal } from '../sync/waiting.js';

const CHILD_SCRIPT = fileURLToPath(new URL('./child.js', import.meta.url));
const DEFAULT_CAPACITY = 1 << 20;
/** How long `await using` waits for a child it sent SIGTERM before it sends SIGKILL. */
const DISPOSE_GRACE_MS = 5000;

// biome-ignore lint/suspicious/noExplicitAny: the default module accepts any arguments, as an untyped import would
type AnyFunction = (...args: any[]) => unknown;

/** Options of `new Process`. */
export interface ProcessOptions<A extends unknown[] = unknown[]> {
  /** The target's arguments: structured-cloneable values and shmkit objects (each arrives open in the child). Default none. */
  args?: A;
  /** What `currentProcess().name` says in the child. Default `Process-<n>`. */
  name?: string;
  /** The child's environment. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Node options for the child (e.g. `['--max-old-space-size=512']`). Default none. */
  execArgv?: string[];
  /** The child dies with this process, even when this one is killed with SIGKILL, and does not keep it alive. Default false. */
  daemon?: boolean;
  /** Aborting it ends the child (SIGTERM): `start()` and `result` reject with an AbortError. */
  signal?: AbortSignal;
  /** Bytes each way of the pipe to the child: `args`, and the target's result, must fit. Default 1 MiB. */
  capacity?: number;
}

/** Options of `join`. */
export interface JoinOptions {
  /** Milliseconds to wait; then `join` resolves with null. Default: no limit. */
  timeout?: number;
  /** Abort the wait (not the child): `join` rejects with an AbortError. */
  signal?: AbortSignal;
}

/** How a child ended. */
export interface ProcessExit {
  /** Its exit code (0, or 1 if the target threw), or null if a signal ended it. */
  exitCode: number | null;
  /** The signal that ended it (e.g. 'SIGTERM'), or null. */
  signal: NodeJS.Signals | null;
}

/** @internal The first message to a child. */
export interface ProcessSetup {
  module: string;
  target: string;
  /** The arguments, shmkit handles in them as descriptions (lib/core/transfer.ts) if `handles`. */
  args: unknown[];
  handles: boolean;
  name: string;
  parent: ProcessInfo;
  capacity: number;
  /** Whether it dies with its parent (a spare child arms that once it knows). */
  daemon: boolean;
  /** For a spare child: the environment to take on (it was started with the one of then). */
  env: NodeJS.ProcessEnv | undefined;
}

type State = 'new' | 'starting' | 'running' | 'exited';

let created = 0;
/** Daemon children alive: killed when this process exits (exitWithParent does it where this cannot run: SIGKILL). */
const daemons = new Set<ChildProcess>();
let exitHook = false;

/**
 * A function exported by a module, run in a new node process (Python's
 * `multiprocessing.Process`). shmkit objects in `args` arrive open in the
 * child. Type it with the module and the export's name to check the
 * arguments and the result: `new Process<typeof import('./tasks.mjs'), 'work'>(url, 'work', { args })`.
 */
export class Process<M = Record<string, AnyFunction>, K extends TaskName<M> = TaskName<M>> implements AsyncDisposable {
  readonly #name: string;
  readonly #setup: ProcessSetup;
  readonly #env: NodeJS.ProcessEnv;
  readonly #execArgv: string[];
  readonly #daemon: boolean;
  /** Its env, execArgv and capacity are the defaults, which the spare child has. */
  readonly #takesSpare: boolean;
  readonly #signal: AbortSignal | undefined;
  #state: State = 'new';
  #child: ChildProcess | undefined;
  #pipe: Pipe<unknown[]> | undefined;
  #pipeName = '';
  #exit: ProcessExit | undefined;
  #aborted = false;
  /** Why the child did not run its target (FATAL), if it said. */
  #fatal: ErrorRecord | undefined;
  #spawnError: Error | undefined;
  #started: Promise<void> | undefined;
  #markReady: () => void = () => {};
  readonly #exited: Promise<ProcessExit>;
  #markExited!: (exit: ProcessExit) => void;
  readonly #result: Promise<TaskResult<M, K>>;
  #settleResult!: { resolve(value: unknown): void; reject(error: unknown): void };
  #resultSettled = false;
  /** The child sent its result (which may still be opening its handles). */
  #answered = false;
  /** Waits (start, join, an observed result) that keep this program alive for a daemon child. */
  #holds = 0;

  /**
   * Prepares the child; nothing runs until `start()`.
   * @param module the module: a file URL (`new URL('./tasks.mjs', import.meta.url)`) or a file path.
   * @param target the name of the function it exports to run.
   * @throws {ShmError} ENOENT if the module file does not exist; ERR_SHM_INVALID_ARG for a bad option, or a closed handle in `args`.
   */
  constructor(module: string | URL, target: K, options?: ProcessOptions<TaskArgs<M, K>>) {
    const moduleUrl = resolveModule(module);
    if (typeof target !== 'string' || target.length === 0) {
      throw invalidArg(`target must be the name of a function the module exports (functions cannot cross processes), got ${describeValue(target)}`);
    }
    const opts = checkObject<ProcessOptions>(options, 'options');
    const args = opts.args === undefined ? [] : checkArray(opts.args, 'options.args');
    created += 1;
    this.#name = opts.name === undefined ? `Process-${created}` : checkName(opts.name);
    if (opts.env !== undefined && (opts.env === null || typeof opts.env !== 'object')) throw invalidArg('options.env must be an object');
    this.#env = opts.env ?? process.env;
    const execArgv = opts.execArgv === undefined ? [] : checkArray(opts.execArgv, 'options.execArgv');
    if (!execArgv.every((arg) => typeof arg === 'string')) throw invalidArg('options.execArgv must be an array of strings');
    this.#execArgv = execArgv as string[];
    this.#daemon = checkBoolean(opts.daemon, 'options.daemon', false);
    this.#signal = checkSignal(opts.signal);
    const capacity = opts.capacity === undefined ? DEFAULT_CAPACITY : checkInteger(opts.capacity, 'options.capacity', 1, 2 ** 30);
    this.#takesSpare = opts.env === undefined && opts.execArgv === undefined && capacity === DEFAULT_CAPACITY;
    const described = describeHandles(args);
    this.#setup = {
      module: moduleUrl,
      target,
      args: described,
      handles: described !== args,
      name: this.#name,
      parent: currentProcess(),
      capacity,
      daemon: this.#daemon,
      env: undefined,
    };
    this.#exited = new Promise((resolve) => (this.#markExited = resolve));
    this.#result = new Promise((resolve, reject) => (this.#settleResult = { resolve, reject }));
    // A target's error that nobody asks for must not end this program as an unhandled rejection.
    this.#result.catch(() => {});
  }

  /** Its name (`options.name`, or `Process-<n>`): the child's `currentProcess().name`. */
  get name(): string {
    return this.#name;
  }

  /** The child's pid once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** True from `start()` until the child has exited. */
  get isAlive(): boolean {
    return this.#state === 'starting' || this.#state === 'running';
  }

  /** The child's exit code once it has exited (null before, or if a signal ended it: see `join()`). */
  get exitCode(): number | null {
    return this.#exit?.exitCode ?? null;
  }

  /** Whether the child dies with this process (`options.daemon`). */
  get daemon(): boolean {
    return this.#daemon;
  }

  /**
   * What the target returned (awaited), shmkit objects in it opened here;
   * rejects with what it threw (rebuilt as Pool calls rebuild it), with
   * ERR_SHM_WORKER_DIED if the child ended before the target returned, or
   * with an AbortError after `options.signal` aborted.
   */
  get result(): Promise<TaskResult<M, K>> {
    if (!this.#resultSettled) this.#hold(this.#result);
    return this.#result;
  }

  /**
   * Starts the child; resolves once it runs the target, its arguments
   * opened (Python's `start()`, which does not wait for that).
   * @throws {ShmError} (rejects) ERR_SHM_INVALID_ARG if called twice or an argument cannot be sent;
   *   ERR_SHM_WORKER_START if the module or an argument's object could not be loaded (ENOENT, ...: the `cause`);
   *   ERR_SHM_WORKER_DIED if the child ended first; AbortError.
   */
  start(): Promise<void> {
    if (this.#started !== undefined)
      return Promise.reject(invalidArg(`process ${JSON.stringify(this.#name)}: start() was called already (a Process runs once)`));
    this.#started = this.#start();
    this.#hold(this.#started);
    return this.#started;
  }

  async #start(): Promise<void> {
    this.#state = 'starting';
    const ready = new Promise<void>((resolve) => (this.#markReady = resolve));
    try {
      if (this.#signal?.aborted) throw abortError(this.#signal);
      this.#spawn();
    } catch (err) {
      // Never started: result and join() settle as for a child that ended.
      this.#settle(false, err);
      this.#finish({ exitCode: null, signal: null });
      throw err;
    }
    void this.#receiveReady();
    await Promise.race([ready, this.#exited]);
    // The next start of a Process with the spare's options takes a child that has loaded shmkit already.
    if (this.#takesSpare) startSpare();
    if ((this.#state as State) === 'running') return;
    if (this.#aborted) throw abortError(this.#signal as AbortSignal);
    throw this.#startError();
  }

  /** Starts the child, or hands the setup to the spare one when this Process has the spare's options. */
  #spawn(): void {
    const spare = this.#takesSpare ? takeSpare() : undefined;
    this.#pipeName = spare?.pipeName ?? `shmkit-proc-${process.pid}-${created}-${randomBytes(2).toString('hex')}`;
    const pipe = spare?.pipe ?? Pipe.create<unknown[]>(this.#pipeName, { capacity: this.#setup.capacity });
    try {
      try {
        // A spare was started with the environment of then: it takes on this one's.
        pipe.sendSync({ ...this.#setup, env: spare === undefined ? undefined : { ...process.env } } as unknown as unknown[]);
      } catch (err) {
        throw crossingError(err, 'options.args', this.#setup.capacity, this.#setup.args);
      }
      this.#child = spare?.child ?? spawnChild(this.#execArgv, this.#env, [this.#pipeName, String(process.pid), this.#daemon ? 'daemon' : '']);
    } catch (err) {
      // A child that could not be made leaves nothing behind.
      pipe.close();
      removeName(this.#pipeName);
      if (spare !== undefined) spare.child.kill('SIGKILL');
      throw err;
    }
    if (!this.#daemon) this.#child.ref();
    this.#pipe = pipe;
    const child = this.#child;
    child.on('error', (err) => {
      // spawn failed (EAGAIN, ENOMEM): no 'exit' follows.
      this.#spawnError ??= err;
      if (child.pid === undefined) this.#onExit(null, null);
    });
    child.on('exit', (code, signal) => this.#onExit(code, signal));
    if (this.#daemon) {
      watchExit();
      daemons.add(child);
      if (this.#holds === 0) child.unref();
    }
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => {
    if (!this.isAlive) return;
    this.#aborted = true;
    this.#child?.kill('SIGTERM');
  };

  /** Waits for READY (or FATAL); the exit drains what is left. */
  async #receiveReady(): Promise<void> {
    try {
      this.#onMessage(await (this.#pipe as Pipe<unknown[]>).recv());
    } catch {
      // end-of-stream (the child died: 'exit' reports it) or this end closed at its exit
    }
  }

  #onMessage(message: unknown[]): void {
    switch (message[0]) {
      case Status.ready:
        if (this.#state === 'starting') this.#state = 'running';
        this.#markReady();
        return;
      case Status.fatal:
        this.#fatal = message[1] as ErrorRecord;
        return;
      case Status.ok:
        this.#settle(true, message[1]);
        return;
      case Status.okHandles:
        this.#answered = true;
        openHandles(message[1]).then(
          (value) => this.#settle(true, value),
          (err) => this.#settle(false, err),
        );
        return;
      case Status.failed:
        this.#settle(false, rebuildError(message[1] as ErrorRecord));
        return;
    }
  }

  #settle(ok: boolean, value: unknown): void {
    if (this.#resultSettled) return;
    this.#resultSettled = true;
    if (ok) this.#settleResult.resolve(value);
    else this.#settleResult.reject(value);
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#state === 'exited') return;
    const pipe = this.#pipe as Pipe<unknown[]>;
    // What it wrote before it ended is still in the ring: READY, its result.
    try {
      while (pipe.pollSync()) this.#onMessage(pipe.recvSync());
    } catch {
      // end-of-stream
    }
    this.#state = 'exited';
    pipe.close();
    removeName(this.#pipeName);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.#child !== undefined) daemons.delete(this.#child);
    if (this.#aborted) this.#settle(false, abortError(this.#signal as AbortSignal));
    else if (!this.#answered) this.#settle(false, this.#deathError(code, signal));
    this.#finish({ exitCode: code, signal });
  }

  #finish(exit: ProcessExit): void {
    this.#state = 'exited';
    this.#exit = exit;
    this.#markExited(exit);
  }

  #startError(): ShmError {
    if (this.#fatal !== undefined) {
      const cause = rebuildError(this.#fatal);
      const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : describeValue(cause);
      return new ShmError(ErrorCodes.WORKER_START, `process ${JSON.stringify(this.#name)} could not start its target: ${why}`, { cause });
    }
    const exit = this.#exit as ProcessExit;
    return this.#deathError(exit.exitCode, exit.signal, 'before its target started');
  }

  #deathError(code: number | null, signal: NodeJS.Signals | null, when = 'before its target returned'): ShmError {
    const how = signal !== null ? `signal ${signal}` : code !== null ? `exit code ${code}` : `could not be started: ${this.#spawnError?.message}`;
    const err = new ShmError(ErrorCodes.WORKER_DIED, `process ${JSON.stringify(this.#name)} (pid ${this.pid}) ended (${how}) ${when}`, {
      cause: this.#spawnError,
    });
    Object.assign(err, { exitCode: code, signal, pid: this.pid });
    return err;
  }

  /**
   * Waits for the child to end (Python's `join()`): resolves with how it
   * ended, or with null once `options.timeout` passes. Never rejects for
   * how the child ended (see `result` for that).
   * @throws {ShmError} (rejects) ERR_SHM_INVALID_ARG before `start()`; AbortError when `options.signal` aborts the wait.
   */
  join(options?: JoinOptions): Promise<ProcessExit | null> {
    let timeout: number;
    let signal: AbortSignal | undefined;
    try {
      const opts = checkObject<JoinOptions>(options, 'options');
      timeout = checkTimeout(opts.timeout, 'options.timeout');
      signal = checkSignal(opts.signal);
      if (this.#started === undefined) throw invalidArg(`process ${JSON.stringify(this.#name)}: join() before start()`);
      if (signal?.aborted) throw abortError(signal);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#exit !== undefined) return Promise.resolve({ ...this.#exit });
    const waited = new Promise<ProcessExit | null>((resolve, reject) => {
      const timer = timeout === Infinity ? undefined : setTimeout(() => done(null), Math.min(timeout, INT32_MAX));
      const onAbort = () => {
        cleanup();
        reject(abortError(signal as AbortSignal));
      };
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const done = (exit: ProcessExit | null) => {
        cleanup();
        resolve(exit === null ? null : { ...exit });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      void this.#exited.then(done);
    });
    this.#hold(waited);
    return waited;
  }

  /**
   * Sends the child SIGTERM (Python's `terminate()`); `join()` to wait for it.
   * @throws {ShmError} ERR_SHM_INVALID_ARG before `start()`
   */
  terminate(): void {
    this.#signalChild('SIGTERM');
  }

  /**
   * Sends the child SIGKILL (Python's `kill()`); `join()` to wait for it.
   * @throws {ShmError} ERR_SHM_INVALID_ARG before `start()`
   */
  kill(): void {
    this.#signalChild('SIGKILL');
  }

  #signalChild(signal: NodeJS.Signals): void {
    if (this.#started === undefined) throw invalidArg(`process ${JSON.stringify(this.#name)}: ${signal === 'SIGKILL' ? 'kill' : 'terminate'}() before start()`);
    // A child that failed to spawn has no pid: libuv would signal pid 0, this whole process group.
    if (this.isAlive && this.#child?.pid !== undefined) this.#child.kill(signal);
  }

  /** `await using child = new Process(...)`: at the end of the scope a child still running is sent SIGTERM (SIGKILL after 5 s) and waited for. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#started === undefined || !this.isAlive) return;
    this.terminate();
    if ((await this.join({ timeout: DISPOSE_GRACE_MS })) !== null) return;
    this.kill();
    await this.join();
  }

  /** While `wait` is pending, a daemon child keeps this program alive (a non-daemon child always does). */
  #hold(wait: Promise<unknown>): void {
    this.#holds += 1;
    this.#child?.ref();
    const release = () => {
      this.#holds -= 1;
      if (this.#holds === 0 && this.#daemon) this.#child?.unref();
    };
    wait.then(release, release);
  }
}

function checkName(name: unknown): string {
  if (typeof name !== 'string') throw invalidArg(`options.name must be a string, got ${describeValue(name)}`);
  return name;
}

function removeName(pipeName: string): void {
  try {
    unlinkSegment(pipeName);
  } catch {
    // the child removed it
  }
}

/** Kills the daemon children, and the spare, still alive when this process exits normally. */
function watchExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const child of daemons) if (child.pid !== undefined) child.kill('SIGKILL');
    if (spare === undefined) return;
    if (spare.child.pid !== undefined) spare.child.kill('SIGKILL');
    // It may have been killed before it opened its pipe (and removed the name).
    removeName(spare.pipeName);
  });
}

/** A child started ahead with the default options, shmkit loaded, waiting on its pipe for a setup (Python's forkserver, in spirit). */
interface Spare {
  child: ChildProcess;
  pipe: Pipe<unknown[]>;
  pipeName: string;
}

let spare: Spare | undefined;
let spares = 0;

/**
 * Starts the spare child if there is none. It does not keep this program
 * alive, and it exits when this process dies (its pipe reports
 * end-of-stream) or exits (watchExit). One that cannot be started is no
 * spare: the next start() starts its own child.
 */
function startSpare(): void {
  if (spare !== undefined) return;
  spares += 1;
  const pipeName = `shmkit-proc-${process.pid}-s${spares}-${randomBytes(2).toString('hex')}`;
  let pipe: Pipe<unknown[]>;
  let child: ChildProcess;
  try {
    pipe = Pipe.create<unknown[]>(pipeName, { capacity: DEFAULT_CAPACITY });
  } catch {
    return;
  }
  try {
    child = spawnChild([], process.env, [pipeName, String(process.pid), 'spare']);
  } catch {
    pipe.close();
    removeName(pipeName);
    return;
  }
  const made: Spare = { child, pipe, pipeName };
  const lost = () => {
    if (spare !== made) return;
    spare = undefined;
    pipe.close();
    removeName(pipeName);
  };
  child.on('error', lost);
  child.on('exit', lost);
  child.unref();
  watchExit();
  spare = made;
}

/** The spare child, now this caller's; undefined if there is none. */
function takeSpare(): Spare | undefined {
  const taken = spare;
  if (taken === undefined) return undefined;
  spare = undefined;
  taken.child.removeAllListeners('error');
  taken.child.removeAllListeners('exit');
  return taken;
}

/**
 * Starts the child. spawn() throws only when it refuses its arguments (a
 * NUL byte in options.env or options.execArgv); a process that cannot
 * start is reported by its 'error' event instead.
 */
function spawnChild(execArgv: string[], env: NodeJS.ProcessEnv, args: string[]): ChildProcess {
  try {
    return spawn(process.execPath, [...execArgv, CHILD_SCRIPT, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ShmError(ErrorCodes.INVALID_ARG, `cannot start a process with these options.env and options.execArgv: ${why}`, { cause: err });
  }
}

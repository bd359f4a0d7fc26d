// A Pool worker: a separate node process started by the parent with the name
// of its Pipe. It loads the task module, runs the initializer, then runs
// tasks one at a time, each only once it has claimed it (the parent may have
// taken it back for another worker: protocol.ts). It exits when the parent
// closes its end (close()), when the parent dies (the pipe reports
// end-of-stream), or after `maxTasks` tasks.
import { fileURLToPath } from 'node:url';
import { Pipe } from '../channel/pipe.js';
import { setIdentity } from '../core/current.js';
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { native } from '../core/native.js';
import { describeHandles, OpenedHandles } from '../core/transfer.js';
import { SharedArray } from '../memory/array.js';
import { openHandles } from './handle-kinds.js';
import {
  BATCH_HEADER,
  Claim,
  ClaimWords,
  canClone,
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
  recordError,
  removeNames,
  type Setup,
  Status,
  TASK_FIELDS,
  TaskField,
} from './protocol.js';

/** Longest an answer waits for others to go with it. */
const FLUSH_MS = 1;

type TaskFunction = (...args: unknown[]) => unknown;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** An error's record without its stack (frames of this worker's own code): small enough for any pipe the setup message fit. */
function bareRecord(err: unknown): ErrorRecord {
  const record = recordError(err, canClone);
  return record.error ? { ...record, stack: undefined } : record;
}

function isEndOfStream(err: unknown): boolean {
  return err instanceof ShmError && (err.code === ErrorCodes.PIPE_CLOSED || err.code === ErrorCodes.CLOSED);
}

class Worker {
  readonly #pipe: Pipe<Reply>;
  readonly #setup: Setup;
  readonly #module: Record<string, unknown>;
  readonly #functions = new Map<string, TaskFunction>();
  /** Answers not yet sent: REPLY_FIELDS per task. */
  #answers: unknown[] = [];
  /** For each answer not yet sent: its function and mode, to name it in an error. */
  #answered: unknown[] = [];
  /** When the oldest of them started (performance.now()). */
  #oldestAnswer = 0;
  /** The handles opened for tasks that ended, not yet closed (#closeEnded). */
  #ended: OpenedHandles[] = [];

  /** Each task's claim word (protocol.ts): a task runs only if this worker moves it from SENT to STARTED. */
  readonly #claims: ClaimWords;

  constructor(pipe: Pipe<Reply>, claims: ClaimWords, setup: Setup, module: Record<string, unknown>) {
    this.#pipe = pipe;
    this.#claims = claims;
    this.#setup = setup;
    this.#module = module;
  }

  /** The exported function `name`, or ERR_SHM_INVALID_ARG naming the export and the module. */
  lookup(name: string): TaskFunction {
    let fn = this.#functions.get(name);
    if (fn === undefined) {
      const value = this.#module[name];
      if (typeof value !== 'function') {
        const has = value === undefined ? '' : ` (its export ${JSON.stringify(name)} is ${describeValue(value)})`;
        throw invalidArg(`the task module ${fileURLToPath(this.#setup.module)} has no exported function ${JSON.stringify(name)}${has}`);
      }
      fn = value as TaskFunction;
      this.#functions.set(name, fn);
    }
    return fn;
  }

  /**
   * Runs the tasks of one batch in order, skipping those the parent took
   * back. Answers go back together at the end of the batch, or sooner once
   * the oldest has waited FLUSH_MS, before a task that must be awaited, or
   * before a task that may be ended by killing this process (ENDABLE: the
   * answers of the tasks before it must not die with it). The parent learns
   * of finished work promptly, and many tiny tasks cost one message. Returns
   * how many ran.
   */
  async runBatch(batch: unknown[]): Promise<number> {
    const claims = this.#claims;
    let seq = batch[0] as number;
    let ran = 0;
    for (let at = BATCH_HEADER; at < batch.length; at += TASK_FIELDS, seq++) {
      const mode = batch[at + TaskField.mode] as number;
      // Before the claim: once the task is STARTED the parent may kill this process for it.
      if ((mode & ENDABLE) !== 0) this.#flush();
      if (!claims.claim(seq, Claim.started)) continue; // taken back
      ran += 1;
      const id = batch[at + TaskField.id] as number;
      const started = performance.now();
      if (this.#answers.length > 0 && started - this.#oldestAnswer >= FLUSH_MS) this.#flush();
      this.#closeEnded();
      const fn = batch[at + TaskField.fn] as string;
      const payload = batch[at + TaskField.payload] as unknown[];
      const plain = (mode & ~(ENDABLE | HANDLES)) as Mode;
      // The handles its arguments name are opened for it, and closed when it ends unless it keep()s them.
      const opened = (mode & HANDLES) !== 0 ? new OpenedHandles() : undefined;
      try {
        const args = opened === undefined ? payload : await this.#reopen(payload, opened);
        const result = await this.#run(plain, fn, args);
        const value = describeHandles(result);
        this.#answer(id, value === result ? Status.ok : Status.okHandles, value, started, fn, plain, payload.length);
      } catch (err) {
        this.#answer(id, Status.failed, recordError(err, canClone), started, fn, plain, payload.length);
      } finally {
        if (opened !== undefined) this.#ended.push(opened);
      }
      claims.markDone(seq);
    }
    this.#flush();
    return ran;
  }

  /** Opens the handles a task's payload names; the answers gathered so far go first (this awaits). */
  #reopen(payload: unknown[], opened: OpenedHandles): Promise<unknown[]> {
    this.#flush();
    return openHandles(payload, opened);
  }

  #answer(id: number, status: number, value: unknown, started: number, fn: string, mode: Mode, items: number): void {
    if (this.#answers.length === 0) this.#oldestAnswer = started;
    this.#answered.push(fn, mode, items);
    // The order of ReplyField: id, status, value, micros.
    this.#answers.push(id, status, value, Math.round((performance.now() - started) * 1000));
  }

  /**
   * Closes the handles opened for tasks that ended: once their answers are
   * sent (off the caller's wait), and before another task runs.
   */
  #closeEnded(): void {
    if (this.#ended.length === 0) return;
    for (const opened of this.#ended) opened.closeUnkept();
    this.#ended = [];
  }

  /** Sends the answers gathered so far as one message, then closes the handles of the tasks they answer. */
  #flush(): void {
    if (this.#answers.length === 0) {
      this.#closeEnded();
      return;
    }
    const answers = this.#answers;
    const answered = this.#answered;
    this.#answers = [];
    this.#answered = [];
    try {
      this.#pipe.sendSync(answers);
    } catch (err) {
      if (isEndOfStream(err) || answers.length === REPLY_FIELDS) this.#sendEach(answers, answered, err);
      else this.#sendEach(answers, answered, undefined);
    }
    this.#closeEnded();
  }

  /**
   * Sends answers one by one: a result, or an exception, that cannot travel
   * (not cloneable, larger than the pipe) becomes its task's error, in
   * terms of the Pool's options, without its stack (the smallest record
   * that says why).
   */
  #sendEach(answers: unknown[], answered: unknown[], failure: unknown): void {
    if (isEndOfStream(failure)) throw failure;
    for (let at = 0, i = 0; at < answers.length; at += REPLY_FIELDS, i += 3) {
      const one = answers.slice(at, at + REPLY_FIELDS);
      try {
        if (failure !== undefined) throw failure;
        this.#pipe.sendSync(one);
      } catch (err) {
        if (isEndOfStream(err)) throw err;
        const task = describeTask(answered[i] as string, answered[i + 1] as Mode, answered[i + 2] as number);
        const what = one[ReplyField.status] === Status.failed ? `the exception thrown by ${task}` : `the result of ${task}`;
        const why = crossingError(err, what, this.#setup.capacity, one[ReplyField.value], answered[i + 1] !== Mode.call);
        this.#pipe.sendSync([one[ReplyField.id], Status.failed, bareRecord(why), one[ReplyField.micros]]);
      }
      failure = undefined;
    }
  }

  async #run(mode: Mode, name: string, payload: unknown[]): Promise<unknown> {
    const fn = this.lookup(name);
    if (mode === Mode.call) return this.#settled(fn(...payload));
    const results = new Array<unknown>(payload.length);
    for (let i = 0; i < payload.length; i++) {
      results[i] = await this.#settled(mode === Mode.each ? fn(payload[i]) : fn(...(payload[i] as unknown[])));
    }
    return results;
  }

  /** A task's value; one it must wait for sends the answers gathered so far first. */
  async #settled(value: unknown): Promise<unknown> {
    if (!isThenable(value)) return value;
    this.#flush();
    return await value;
  }

  /** Serves task batches until end-of-stream or `maxTasks`. */
  async serve(maxTasks: number): Promise<void> {
    let done = 0;
    for (;;) {
      // End-of-stream (the parent closed or died) ends this with a PIPE_CLOSED error.
      const batch = (await this.#pipe.recv()) as unknown[];
      done += await this.runBatch(batch);
      if (maxTasks > 0 && done >= maxTasks) return;
    }
  }
}

async function start(pipe: Pipe<Reply>, claims: ClaimWords, setup: Setup): Promise<Worker> {
  setIdentity(`PoolWorker-${process.pid}`, setup.parent);
  // Handles in initargs stay open for the worker's life.
  setup.initargs = await openHandles(setup.initargs);
  const module = (await import(setup.module)) as Record<string, unknown>;
  const worker = new Worker(pipe, claims, setup, module);
  if (setup.initializer !== undefined) {
    let initializer: TaskFunction;
    try {
      initializer = worker.lookup(setup.initializer);
    } catch (err) {
      throw invalidArg(`options.initializer: ${(err as Error).message}`);
    }
    const init = initializer(...setup.initargs);
    if (isThenable(init)) await init;
  }
  return worker;
}

/** Runs the worker; resolves with its exit code. */
async function main(pipeName: string, parentPid: number): Promise<number> {
  // A worker must not outlive its parent, even mid-task (macOS: it notices
  // through the pipe, between tasks). Armed, then checked: the parent may
  // have died before.
  native.exitWithParent();
  const pipe = Pipe.open<Reply>(pipeName, { timeout: 10_000 });
  const claims = SharedArray.open(claimsName(pipeName), { dtype: 'int32' });
  // This process is the last to open them: the names can go now, and nothing
  // is left in /dev/shm whichever process dies first.
  removeNames(pipeName);
  if (process.ppid !== parentPid) return 0;
  const setup = (await pipe.recv()) as unknown as Setup;
  let worker: Worker;
  try {
    worker = await start(pipe, new ClaimWords(claims.array), setup);
  } catch (err) {
    pipe.sendSync([-1, Status.fatal, recordError(err, canClone)]);
    return 1;
  }
  pipe.sendSync([-1, Status.ready]);
  await worker.serve(setup.maxTasks);
  return 0;
}

const [pipeName, parentPid] = process.argv.slice(2);
if (pipeName === undefined || parentPid === undefined) {
  process.stderr.write('shmkit pool worker: started without a pipe name (it is started by Pool, not by hand)\n');
  process.exit(2);
}
try {
  // Exit even if the task module left timers or sockets open.
  process.exit(await main(pipeName, Number(parentPid)));
} catch (err) {
  // The parent closed its end or died: a normal way to end.
  if (isEndOfStream(err)) process.exit(0);
  throw err;
}

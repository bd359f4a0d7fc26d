// The lifecycle of a Pool's worker processes: starting one per slot, what
// each exit leads to, and stopping them all. A worker that dies holding a
// task fails that task (WorkerDiedError) and is replaced; one that dies
// while starting is the machine's doing (the OOM killer, a process limit),
// so its slot is filled again after a pause that grows with each such death
// in a row, and left empty after MAX_START_DEATHS; one that reports that its
// module or initializer failed breaks the pool, since every replacement
// would fail alike. Which worker runs what is the scheduler's (scheduler.ts).
import type { ShmError } from '../core/errors.js';
import type { Reply } from './protocol.js';
import type { Scheduler } from './scheduler.js';
import { startFailure, WorkerDiedError } from './worker-errors.js';
import { type SpawnOptions, type Task, type WorkerExit, WorkerProcess } from './worker-process.js';

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

export type PoolState = 'open' | 'closing' | 'closed' | 'terminated' | 'broken';

/** What the workers' lifecycle needs of its Pool. */
export interface PoolSide {
  /** The pool's state: what a worker's exit leads to depends on it. */
  state(): PoolState;
  /** Why the pool was terminated or broke: what its tasks fail with. */
  failure(): ShmError | undefined;
  /** Tasks a worker answered, with its answers (REPLY_FIELDS each). */
  answered(tasks: Task[], answers: Reply): void;
  /** A worker reported that its module or initializer failed: the pool breaks with `failure`. */
  broke(failure: ShmError): void;
}

/** How a worker that died while starting ended. */
interface StartDeath {
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  cause?: unknown;
}

/** Every pool's workers that may still run: they are killed when this process exits. */
const liveWorkers = new Set<Workers>();
let exitHook = false;

export class Workers {
  readonly #live: Set<WorkerProcess>;
  readonly #spawnOptions: SpawnOptions;
  readonly #scheduler: Scheduler;
  readonly #pool: PoolSide;
  /** For each worker not yet ready: how many before it in its slot died in a row while starting. */
  readonly #startDeaths = new Map<WorkerProcess, number>();
  /** Slots waiting to be filled again after a worker died starting. */
  readonly #refills = new Set<NodeJS.Timeout>();
  /** Slots left empty after MAX_START_DEATHS deaths in a row: the next call fills them. */
  #emptySlots = 0;

  /** `live`: the set of live workers this keeps, which `scheduler` sends tasks to. */
  constructor(live: Set<WorkerProcess>, spawnOptions: SpawnOptions, scheduler: Scheduler, pool: PoolSide) {
    this.#live = live;
    this.#spawnOptions = spawnOptions;
    this.#scheduler = scheduler;
    this.#pool = pool;
  }

  /**
   * Starts `count` workers (they load the module in the background). If one
   * cannot be made, those made are killed, their names removed from
   * /dev/shm, and what it threw is thrown.
   */
  start(count: number): void {
    killAtProcessExit(this);
    try {
      for (let i = 0; i < count; i++) this.#spawn(0);
    } catch (err) {
      this.killAll();
      liveWorkers.delete(this);
      throw err;
    }
  }

  /** Process ids of the workers now running. */
  get pids(): number[] {
    return [...this.#live].flatMap((worker) => (worker.pid === undefined ? [] : [worker.pid]));
  }

  /** A call made while slots are empty starts their workers again, each slot with a fresh allowance of deaths. */
  fillEmptySlots(): void {
    const slots = this.#emptySlots;
    this.#emptySlots = 0;
    for (let i = 0; i < slots; i++) this.#replace(0);
  }

  /**
   * Rejects every queued and sent task, and `more`, with `error` (or the
   * error made for each task), kills the workers and drops pending refills.
   */
  failAll(error: ShmError | ((task: Task) => ShmError), more: Task[] = []): void {
    const tasks = [...this.#scheduler.takeQueued(), ...more];
    this.#cancelRefills();
    for (const worker of this.#live) {
      tasks.push(...worker.takeUnanswered());
      worker.kill();
    }
    for (const task of tasks) if (!task.cancelled) task.reject(typeof error === 'function' ? error(task) : error);
    this.#scheduler.checkDrained();
  }

  /** Stops the workers gracefully: each finishes what it was sent, then exits. */
  stopAll(): void {
    this.#cancelRefills();
    for (const worker of this.#live) worker.stop();
  }

  /** Kills the workers now (SIGKILL). */
  killAll(): void {
    for (const worker of this.#live) worker.kill();
  }

  /** Resolves once every worker has exited. */
  async stopped(): Promise<void> {
    while (this.#live.size > 0) await Promise.all([...this.#live].map((worker) => worker.ended));
    liveWorkers.delete(this);
  }

  /** Starts a worker in a slot whose last `startDeaths` workers died while starting. Throws what creating it threw. */
  #spawn(startDeaths: number): void {
    const worker = new WorkerProcess(this.#spawnOptions, {
      ready: (ready) => {
        this.#startDeaths.delete(ready);
        this.#scheduler.dispatch();
      },
      answered: (_worker, tasks, answers) => this.#pool.answered(tasks, answers),
      exited: (exited, exit, held, notStarted) => this.#exited(exited, exit, held, notStarted),
    });
    this.#live.add(worker);
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

  #exited(worker: WorkerProcess, exit: WorkerExit, held: Task[], notStarted: Task[]): void {
    this.#live.delete(worker);
    const startDeaths = this.#startDeaths.get(worker) ?? 0;
    this.#startDeaths.delete(worker);
    const state = this.#pool.state();
    if (state === 'terminated' || state === 'broken') {
      this.failAll(this.#pool.failure() as ShmError, [...held, ...notStarted]);
    } else if (exit.requested) {
      // stop() after the work was done, or kill(): nothing to replace.
      this.#scheduler.requeue([...held, ...notStarted]);
      this.#scheduler.dispatch();
    } else if (exit.fatal !== undefined) {
      // Its module or initializer failed: every replacement would fail alike, so the pool fails instead of retrying for ever.
      const failure = startFailure(worker.pid, exit.fatal);
      this.#pool.broke(failure);
      this.failAll(failure, [...held, ...notStarted]);
    } else if (!exit.wasReady) {
      // It started none of its tasks.
      this.#scheduler.requeue([...held, ...notStarted]);
      this.#diedStarting(startDeaths + 1, { pid: worker.pid, code: exit.code, signal: exit.signal, cause: exit.spawnError });
      this.#scheduler.dispatch();
    } else {
      this.#diedWorking(worker, exit, held, notStarted);
    }
  }

  /** A ready worker died: the tasks it held fail, the rest run elsewhere, and its slot is filled again while there is work. */
  #diedWorking(worker: WorkerProcess, exit: WorkerExit, held: Task[], notStarted: Task[]): void {
    for (const task of held) if (!task.cancelled) task.reject(new WorkerDiedError(worker.pid, exit.code, exit.signal, task.fn));
    this.#scheduler.requeue(notStarted);
    if (this.#pool.state() === 'open' || this.#scheduler.queued > 0) this.#replace(0);
    this.#scheduler.dispatch();
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
  #diedStarting(deaths: number, death: StartDeath): void {
    if (deaths < MAX_START_DEATHS) {
      this.#refillLater(deaths);
      return;
    }
    this.#emptySlots += 1;
    if (this.#live.size > 0 || this.#refills.size > 0) return;
    this.failAll((task) => new WorkerDiedError(death.pid, death.code, death.signal, task.fn, { startDeaths: deaths, cause: death.cause }));
  }

  /** Fills a slot after its `deaths`-th worker in a row died starting: at once after the first, then after a growing pause. */
  #refillLater(deaths: number): void {
    const pause = deaths < 2 ? 0 : Math.min(MAX_REFILL_PAUSE_MS, REFILL_PAUSE_MS * 2 ** (deaths - 2));
    const timer = setTimeout(() => {
      this.#refills.delete(timer);
      const state = this.#pool.state();
      if (state === 'open' || (state === 'closing' && this.#scheduler.queued > 0)) this.#replace(deaths);
    }, pause);
    this.#refills.add(timer);
  }

  #cancelRefills(): void {
    for (const timer of this.#refills) clearTimeout(timer);
    this.#refills.clear();
  }
}

/** Kills `workers` when this process exits. Workers also notice a dead parent through their pipe; this stops them at once, even mid-task. */
function killAtProcessExit(workers: Workers): void {
  liveWorkers.add(workers);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const live of liveWorkers) live.killAll();
  });
}

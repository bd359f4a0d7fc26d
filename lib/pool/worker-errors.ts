// The errors of a Pool's worker processes themselves, not of the tasks they
// run: a worker that died (WorkerDiedError, exported from 'shmkit'), and one
// that reported that its module or initializer failed (ERR_SHM_WORKER_START).
// The lifecycle of workers (workers.ts) raises them; pool.ts exports
// WorkerDiedError, as part of the Pool's API.
import { describeValue, ErrorCodes, ShmError } from '../core/errors.js';
import { type ErrorRecord, rebuildError } from './protocol.js';

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

/** ERR_SHM_WORKER_START: worker `pid` reported (FATAL) that its module or initializer failed; `cause` is that error. */
export function startFailure(pid: number | undefined, fatal: ErrorRecord): ShmError {
  const cause = rebuildError(fatal);
  const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : describeValue(cause);
  return new ShmError(ErrorCodes.WORKER_START, `pool worker ${pid} could not start: ${reason}`, { cause });
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? `could not be started: ${cause.message}` : 'it ended';
}

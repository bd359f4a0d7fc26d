// A Pool call's limits: its `signal` and `timeout` (CallOptions), checked
// once when the call is made and then watched while its tasks run, so that
// an abort or a timeout ends the call at once, whatever its tasks are doing.
// One place for what apply/submit, map/starmap and imap/imapUnordered all do
// with them.
import { ErrorCodes, ShmError } from '../core/errors.js';
import { checkObject, checkTimeout, INT32_MAX } from '../core/validate.js';
import { abortError, checkSignal } from '../sync/waiting.js';

/** What a call's `signal` and `timeout` come to. */
export interface Limits {
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

/** How a call is named in its errors: `pool.map("fn")`. */
export function describeCall(method: string, fn: string): string {
  return `pool.${method}(${JSON.stringify(fn)})`;
}

/** A call's `signal` and `timeout`, checked; undefined if it has neither. The deadline starts now. */
export function callLimits(options: unknown, call: string): Limits | undefined {
  const opts = checkObject<{ signal?: unknown; timeout?: unknown }>(options, 'options');
  const signal = checkSignal(opts.signal);
  const timeout = checkTimeout(opts.timeout, 'options.timeout');
  if (signal === undefined && timeout === Infinity) return undefined;
  return { signal, timeout, deadline: performance.now() + timeout, call };
}

/** Throws the AbortError of an aborted signal, or ERR_SHM_TIMEOUT once the deadline has passed. */
export function checkLimits(limits: Limits): void {
  if (limits.signal?.aborted) throw abortError(limits.signal);
  if (limits.timeout !== Infinity && performance.now() >= limits.deadline) throw timeoutError(limits);
}

/**
 * Calls `stop` once with the call's AbortError when its signal aborts, or
 * with ERR_SHM_TIMEOUT when its deadline passes; returns what stops the
 * watching (call it when the call ends).
 */
export function watchLimits(limits: Limits | undefined, stop: (error: unknown) => void): () => void {
  if (limits === undefined) return () => {};
  const signal = limits.signal;
  const onAbort = () => stop(abortError(signal as AbortSignal));
  signal?.addEventListener('abort', onAbort, { once: true });
  const stopTimer = limits.timeout !== Infinity ? after(limits.deadline, () => stop(timeoutError(limits))) : undefined;
  return () => {
    signal?.removeEventListener('abort', onAbort);
    stopTimer?.();
  };
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

// Public cross-process wait / notify on an Int32Array over shared memory: the
// Atomics.wait / Atomics.notify that work between processes.
import { abortError, checkSignal, settle } from './abort.js';
import { ErrorCodes, ShmError, invalidArg, sys } from '../core/errors.js';
import { native, type WaitResult } from '../core/native.js';
import { checkObject, checkTimeout } from '../core/validate.js';

/** Options of {@link waitAsync}. */
export interface WaitOptions {
  /** Milliseconds; omitted or Infinity waits for ever. */
  timeout?: number;
  /** Cancels the wait: the Promise rejects with an AbortError. */
  signal?: AbortSignal;
}

function checkWord(array: unknown, index: unknown): asserts array is Int32Array {
  if (!(array instanceof Int32Array)) throw invalidArg('array must be an Int32Array (over shared memory)');
  if (array.length === 0) throw new ShmError(ErrorCodes.CLOSED, 'the Int32Array is empty or its shared memory is closed');
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= array.length) {
    throw invalidArg(`index must be an integer from 0 to ${array.length - 1}, got ${String(index)}`);
  }
}

function checkInt32(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -(2 ** 31) || value > 2 ** 31 - 1) {
    throw invalidArg(`expected must be an int32, got ${String(value)}`);
  }
  return value;
}

/**
 * Blocks this thread while `array[index] === expected`, until {@link notify}
 * from any process, or `timeout` ms. Like `Atomics.wait`, but across
 * processes (Linux futex; macOS os_sync_wait_on_address). May return 'ok'
 * spuriously: re-check the word.
 */
export function wait(array: Int32Array, index: number, expected: number, timeout?: number): WaitResult {
  checkWord(array, index);
  const value = checkInt32(expected);
  const ms = checkTimeout(timeout);
  return sys(() => native.wait(array, index, value, ms));
}

/**
 * The same wait without blocking the event loop: it runs on a thread the
 * addon owns (never libuv's pool) and does not hold up `process.exit()`.
 * @returns 'ok' when woken, 'not-equal' if the word already differed, 'timed-out'.
 */
export function waitAsync(array: Int32Array, index: number, expected: number, options?: number | WaitOptions): Promise<WaitResult> {
  checkWord(array, index);
  const value = checkInt32(expected);
  const opts = typeof options === 'number' ? { timeout: options } : checkObject<WaitOptions>(options, 'options');
  const ms = checkTimeout(opts.timeout, 'options.timeout');
  const signal = checkSignal(opts.signal);
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return settle(sys(() => native.waitAsync(array, index, value, ms)), signal) as Promise<WaitResult>;
}

/** Wakes up to `count` (default all) waiters on `array[index]`, in any process. Returns how many woke (Linux) or 0. */
export function notify(array: Int32Array, index: number, count = Infinity): number {
  checkWord(array, index);
  if (count !== Infinity && (typeof count !== 'number' || !Number.isInteger(count) || count < 0)) {
    throw invalidArg(`count must be a whole number or Infinity, got ${String(count)}`);
  }
  return sys(() => native.notify(array, index, Math.min(count, 2 ** 31 - 1)));
}

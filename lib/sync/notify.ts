// Public cross-process wait / notify on an Int32Array over shared memory: the
// Atomics.wait / Atomics.notify that work between processes.
import { describeValue, ErrorCodes, invalidArg, ShmError } from '../core/errors.js';
import { native, type WaitResult } from '../core/native.js';
import { checkTimeout, INT32_MAX } from '../core/validate.js';
import { parseWaitOptions, SYNC_SLICE_MS, settle, type WaitOptions } from './waiting.js';

function checkWord(array: unknown, index: unknown): asserts array is Int32Array {
  // isView: a real typed array, not an object that only borrows Int32Array's prototype.
  if (!(array instanceof Int32Array) || !ArrayBuffer.isView(array)) throw invalidArg('array must be an Int32Array (over shared memory)');
  if (array.length === 0) throw new ShmError(ErrorCodes.CLOSED, 'the Int32Array is empty or its shared memory is closed');
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= array.length) {
    throw invalidArg(`index must be an integer from 0 to ${array.length - 1}, got ${describeValue(index)}`);
  }
}

function checkInt32(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -(2 ** 31) || value > INT32_MAX) {
    throw invalidArg(`expected must be an int32, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Blocks this thread while `array[index] === expected`, until {@link notify}
 * from any process, or `timeout` ms. Like `Atomics.wait`, but across
 * processes (Linux futex; macOS os_sync_wait_on_address). May return 'ok'
 * or 'not-equal' spuriously: re-check the word.
 */
export function wait(array: Int32Array, index: number, expected: number, timeout?: number): WaitResult {
  checkWord(array, index);
  const value = checkInt32(expected);
  const deadline = performance.now() + checkTimeout(timeout);
  // In slices, so that a worker being terminated stops within one.
  for (;;) {
    const remaining = deadline - performance.now();
    const result = native.wait(array, index, value, Math.max(0, Math.min(remaining, SYNC_SLICE_MS)));
    if (result !== 'timed-out' || remaining <= SYNC_SLICE_MS) return result;
  }
}

/**
 * The same wait without blocking the event loop: it sleeps in the addon's
 * wait engine (io_uring on Linux 6.7+, else one waiter thread per process),
 * never libuv's pool, and does not hold up `process.exit()`.
 * @returns 'ok' when woken, 'not-equal' if the word already differed, 'timed-out'.
 * @throws AbortError if `signal` is or becomes aborted; ShmError
 *   ERR_SHM_CLOSED if the memory is closed meanwhile.
 */
export async function waitAsync(array: Int32Array, index: number, expected: number, options?: number | WaitOptions): Promise<WaitResult> {
  checkWord(array, index);
  const value = checkInt32(expected);
  const wait = parseWaitOptions(typeof options === 'number' ? { timeout: options } : options);
  const outcome = await settle(native.waitAsync(array, index, value, wait.deadline.remaining(), false), wait.signal);
  if (outcome === 'closed' || outcome === 'cancelled') throw new ShmError(ErrorCodes.CLOSED, 'the shared memory behind this Int32Array was closed');
  return outcome;
}

/** Wakes up to `count` (default all) waiters on `array[index]`, in any process. Returns how many woke (Linux) or 0. */
export function notify(array: Int32Array, index: number, count = Infinity): number {
  checkWord(array, index);
  if (count !== Infinity && (typeof count !== 'number' || !Number.isInteger(count) || count < 0)) {
    throw invalidArg(`count must be a whole number or Infinity, got ${describeValue(count)}`);
  }
  return native.notify(array, index, Math.min(count, INT32_MAX));
}

// Awaiting a native wait with an AbortSignal: the Promise rejects at once
// with an AbortError, and the addon's thread is asked to stop.
import { ErrorCodes, ShmError, fromNative, invalidArg } from '../core/errors.js';
import { native, type PendingWait } from '../core/native.js';

/** The error an aborted wait rejects with: `name` 'AbortError', `code` 'ABORT_ERR' (as Node's own). */
export function abortError(signal: AbortSignal): ShmError {
  const err = new ShmError(ErrorCodes.ABORTED, 'The operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}

export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalidArg('options.signal must be an AbortSignal');
  return signal;
}

/**
 * Awaits a native wait; rejects with ShmError (system failure) or AbortError.
 * A wait that took something (a semaphore unit) after its caller gave up on
 * it hands the late result to `onLate`, which gives it back.
 */
export function settle<T>([promise, id]: PendingWait<T>, signal?: AbortSignal, onLate?: (value: T) => void): Promise<T> {
  if (!signal) return promise.catch((err) => Promise.reject(fromNative(err)));
  const abandon = () => {
    native.cancelWait(id);
    if (onLate) promise.then(onLate, () => {});
    else promise.catch(() => {});
  };
  if (signal.aborted) {
    abandon();
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      abandon();
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(fromNative(err));
      },
    );
  });
}

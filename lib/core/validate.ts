// Argument checks shared by the public classes. Each throws a ShmError with a
// stable code before any system call is made.
import { describeValue, ErrorCodes, invalidArg, ShmError } from './errors.js';

/** The largest int32: the most a count, a notify ("wake all") or a timer delay can be. */
export const INT32_MAX = 2 ** 31 - 1;

export function checkObject<T extends object>(value: unknown, what: string): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw invalidArg(`${what} must be an object`);
  return value as Partial<T>;
}

export function checkBoolean(value: unknown, what: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArg(`${what} must be a boolean, got ${describeValue(value)}`);
  return value;
}

/** A byte size: a positive safe integer. */
export function checkSize(value: unknown, what = 'size'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ShmError(ErrorCodes.INVALID_SIZE, `${what} must be a positive integer number of bytes, got ${describeValue(value)}`);
  }
  return value;
}

/** A whole number in [min, max]. */
export function checkInteger(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArg(`${what} must be an integer from ${min} to ${max}, got ${describeValue(value)}`);
  }
  return value;
}

/** A timeout in milliseconds: undefined or Infinity for none, else >= 0. */
export function checkTimeout(value: unknown, what = 'timeout'): number {
  if (value === undefined || value === Infinity) return Infinity;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw invalidArg(`${what} must be a number of milliseconds >= 0 (or Infinity), got ${describeValue(value)}`);
  }
  return value;
}

export function checkFunction(value: unknown, what: string): void {
  if (typeof value !== 'function') throw invalidArg(`${what} must be a function, got ${describeValue(value)}`);
}

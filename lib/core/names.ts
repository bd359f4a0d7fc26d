import { randomBytes } from 'node:crypto';
import { describeValue, ErrorCodes, ShmError } from './errors.js';

/** Characters that every supported platform accepts in a POSIX IPC name. */
const PORTABLE = /^[A-Za-z0-9._-]+$/;

/**
 * Longest name (without the leading slash) for a shared-memory segment.
 * macOS allows 31 bytes including the slash; Linux allows NAME_MAX (255).
 */
export const MAX_SHM_NAME_LENGTH = process.platform === 'darwin' ? 30 : 255;

/** Longest semaphore name: Linux stores it as /dev/shm/sem.<name>. */
export const MAX_SEM_NAME_LENGTH = process.platform === 'darwin' ? 30 : 251;

/** Longest name that works on every platform shmkit supports. */
export const PORTABLE_NAME_LENGTH = 30;

/**
 * Validates a user-supplied name (`name` or `/name`) and returns it without
 * the leading slash, as Python's SharedMemory reports it. Throws before any
 * system call sees a bad name.
 */
export function normalizeName(name: unknown, maxLength = MAX_SHM_NAME_LENGTH): string {
  if (typeof name !== 'string') {
    throw new ShmError(ErrorCodes.INVALID_NAME, `name must be a string, got ${describeValue(name)}`);
  }
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (bare.length === 0) throw new ShmError(ErrorCodes.INVALID_NAME, 'name must not be empty');
  if (bare.length > maxLength) {
    throw new ShmError(
      ErrorCodes.INVALID_NAME,
      `name ${JSON.stringify(name)} is ${bare.length} characters; the limit here is ${maxLength} (${PORTABLE_NAME_LENGTH} for portability)`,
    );
  }
  if (bare === '.' || bare === '..' || !PORTABLE.test(bare)) {
    throw new ShmError(
      ErrorCodes.INVALID_NAME,
      `name ${JSON.stringify(name)} is not valid: use 1-${PORTABLE_NAME_LENGTH} characters from [A-Za-z0-9._-], optionally after one leading slash`,
    );
  }
  return bare;
}

/** The name as the system calls take it: with one leading slash. */
export function systemName(bare: string): string {
  return `/${bare}`;
}

/** A fresh random name, short enough for every platform. */
export function randomName(prefix = 'shmkit_'): string {
  return prefix + randomBytes(8).toString('hex');
}

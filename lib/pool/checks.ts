// The checks of what a Pool's calls are given (a Process's too: lib/process/
// takes resolveModule and checkArray from pool.ts): each bad argument is an
// ERR_SHM_INVALID_ARG (ENOENT for a module file that is not there) that says
// what was wrong, before anything is sent to a worker.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeValue, invalidArg, ShmError } from '../core/errors.js';
import { checkInteger, INT32_MAX } from '../core/validate.js';

/** The module's file URL: from a URL (file: only) or a path (relative to the working directory). */
export function resolveModule(module: unknown): string {
  let url: URL;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && module.length > 0) url = /^[a-z][a-z0-9+.-]*:/i.test(module) ? new URL(module) : pathToFileURL(resolvePath(module));
  else throw invalidArg(`module must be a file URL or a path, got ${describeValue(module)}`);
  if (url.protocol !== 'file:') throw invalidArg(`module must be a file: URL, got ${url.protocol} (workers load it from disk)`);
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    // The usual cause: a path relative to the caller's file, taken from the working directory instead.
    const relative = typeof module === 'string' && !isAbsolute(module);
    const hint = relative
      ? ` (a relative path is taken from the working directory, ${process.cwd()}; for a file beside your module pass new URL(${JSON.stringify(module)}, import.meta.url))`
      : '';
    throw new ShmError('ENOENT', `the task module ${path} does not exist${hint}`);
  }
  return url.href;
}

export function checkFunctionName(fn: unknown): string {
  if (typeof fn !== 'string' || fn.length === 0) {
    throw invalidArg(`fn must be the name of a function the task module exports (functions cannot cross processes), got ${describeValue(fn)}`);
  }
  return fn;
}

export function checkArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw invalidArg(`${what} must be an array, got ${describeValue(value)}`);
  return value;
}

export function checkChunksize(value: unknown): number {
  return checkInteger(value, 'options.chunksize', 1, INT32_MAX);
}

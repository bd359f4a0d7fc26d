import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, inject } from 'vitest';
import { ShmError } from '../dist/index.js';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const fixtures = join(root, 'test', 'fixtures');

let counter = 0;

/**
 * The programs this test file started that have not ended. A test that
 * fails (or times out) before its children end must not leave them running
 * after the file: they would keep names open and spin on the CPU the next
 * files need. Each file has its own (vitest isolates files).
 */
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** A name unique to this test run (the run's prefix, the file's pid, a counter). */
export function uniqueName(label = 'n'): string {
  counter += 1;
  return `${inject('namePrefix')}${label}${process.pid % 10000}x${counter}`;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ReturnType<typeof spawn>;
  /** Resolves with the first stdout line that satisfies `match`. */
  line(match?: (line: string) => boolean): Promise<string>;
  /** Writes a line to the child's stdin. */
  send(text: string): void;
  done: Promise<RunResult>;
}

/**
 * Starts a separate `node` program (spawned, not forked: it shares nothing
 * with this process but what it opens by name).
 */
export function start(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  child.on('close', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  let pending: Array<{ match: (line: string) => boolean; resolve: (line: string) => void }> = [];
  const lines: string[] = [];
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  let partial = '';
  child.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    partial += chunk;
    for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      for (const p of pending.filter((p) => p.match(line))) p.resolve(line);
      pending = pending.filter((p) => !p.match(line));
    }
  });
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    done,
    send: (text) => child.stdin!.write(`${text}\n`),
    line: (match = () => true) =>
      new Promise<string>((resolve, reject) => {
        const seen = lines.find(match);
        if (seen !== undefined) return resolve(seen);
        pending.push({ match, resolve });
        done.then((r) => reject(new Error(`process ended (code ${r.code}, signal ${r.signal}) before the line came\n${r.stderr}`)));
      }),
  };
}

/** Runs a fixture script under node and waits for it to end. */
export function runFixture(script: string, args: string[] = [], options: { nodeArgs?: string[] } = {}): Promise<RunResult> {
  return start(process.execPath, [...(options.nodeArgs ?? []), join(fixtures, script), ...args]).done;
}

export function startFixture(script: string, args: string[] = [], options: { nodeArgs?: string[] } = {}): Running {
  return start(process.execPath, [...(options.nodeArgs ?? []), join(fixtures, script), ...args]);
}

/**
 * Runs a fixture script and waits for it to end, killing it with SIGKILL if
 * it has not ended within `hangMs`: a hang then fails the test (signal
 * SIGKILL) instead of holding up the run.
 */
export async function runFixtureWithin(script: string, args: string[], hangMs: number): Promise<RunResult> {
  const run = startFixture(script, args);
  const watchdog = setTimeout(() => run.child.kill('SIGKILL'), hangMs);
  try {
    return await run.done;
  } finally {
    clearTimeout(watchdog);
  }
}

/** The error `promise` rejects with (the test fails if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<ShmError> {
  try {
    await promise;
  } catch (err) {
    return err as ShmError;
  }
  throw new Error('expected a rejection');
}

/**
 * How `promise` settled, as a short word for a test to collect: 'resolved',
 * a ShmError's code, or another error's class and message.
 */
export async function settledAs(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    return err instanceof ShmError ? err.code : `${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`;
  }
}

/**
 * When a test closes a handle against an async call it just made: in the
 * same tick ('same tick': `wait` returns nothing, and must not be awaited),
 * after 1 to 8 microtask turns, or after a 20 ms timer (the call pending in
 * its wait by then).
 */
export const CLOSE_MOMENTS: ReadonlyArray<{ label: string; wait: () => Promise<void> | undefined }> = [
  { label: 'same tick', wait: () => undefined },
  ...Array.from({ length: 8 }, (_, i) => ({
    label: `after ${i + 1} microtask turns`,
    wait: async () => {
      for (let turn = 0; turn <= i; turn++) await null;
    },
  })),
  { label: 'pending', wait: () => new Promise<void>((resolve) => setTimeout(resolve, 20)) },
];

/** Runs `fn` and checks that it throws a ShmError with `code`; returns the error. */
export function expectCode(fn: () => unknown, code: string): ShmError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(ShmError);
  expect((caught as ShmError).code).toBe(code);
  return caught as ShmError;
}

interface Disposable {
  close(): void;
  unlink?(): void;
}

/**
 * The objects a test made: `add` them as they are created, `cleanup()` in
 * afterEach closes each and unlinks its name (already gone is fine).
 */
export class Scratch {
  #objects: Disposable[] = [];

  add<T extends Disposable>(object: T): T {
    this.#objects.push(object);
    return object;
  }

  cleanup(): void {
    for (const object of this.#objects.splice(0).reverse()) {
      object.close();
      try {
        object.unlink?.();
      } catch (err) {
        if ((err as ShmError).code !== 'ENOENT') throw err;
      }
    }
  }
}

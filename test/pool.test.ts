// Pool: worker processes spawned with node, tasks and results through shmkit
// Pipes. Every test checks what a user sees (results, errors, processes),
// and afterEach that no worker process and no pipe in /dev/shm is left.
import { spawn } from 'node:child_process';
import { copyFileSync, linkSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, Pool, type PoolOptions, Array as SharedArray, ShmError, WorkerDiedError } from '../dist/index.js';
import { fixtures, rejection, root, Scratch, start, startFixture, uniqueName } from './helpers.js';

const TASKS = pathToFileURL(join(fixtures, 'pool-tasks.mjs'));
const SLOW_START = pathToFileURL(join(fixtures, 'pool-slow-start.mjs'));
const scratch = new Scratch();
const pools: Pool[] = [];
const allPids = new Set<number>();
const tmp = mkdtempSync(join(tmpdir(), 'shmkit-pool-test-'));

function pool(options: ConstructorParameters<typeof Pool>[1] = {}, module: string | URL = TASKS): Pool {
  const created = new Pool(module, { processes: 2, ...options });
  pools.push(created);
  return created;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `promise`, or a failure naming `what` if it has not settled after `ms`: a hang limit, not a timing assertion. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Pipes this process's pools left in /dev/shm (there should be none once workers have started). */
function leftoverPipes(pid = process.pid): string[] {
  try {
    return readdirSync('/dev/shm').filter((entry) => entry.startsWith(`shmkit-pool-${pid}-`));
  } catch {
    return [];
  }
}

/** Runs a program in a process group of its own: a kill gone wrong there (pid 0: the group) cannot reach the test runner. */
async function runDetached(command: string, args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (...end) => resolve(end)));
  return { code, signal, stdout, stderr };
}

afterEach(async () => {
  for (const p of pools.splice(0)) {
    for (const pid of p.pids) allPids.add(pid);
    await p.terminate();
  }
  scratch.cleanup();
  expect(leftoverPipes()).toEqual([]);
});

afterAll(async () => {
  await until(() => [...allPids].every((pid) => !alive(pid)));
  rmSync(tmp, { recursive: true, force: true });
});

describe('Pool calls', () => {
  it('apply, submit, map, starmap return what the functions return, in order', async () => {
    const p = pool();
    expect(await p.apply('add', [1, 2])).toBe(3);
    expect(await p.submit('add', 40, 2)).toBe(42);
    const items = Array.from({ length: 100 }, (_, i) => i);
    expect(await p.map('square', items)).toEqual(items.map((x) => x * x));
    expect(await p.map('square', items, { chunksize: 7 })).toEqual(items.map((x) => x * x));
    expect(await p.map('square', new Set([3, 4]))).toEqual([9, 16]);
    expect(
      await p.starmap('add', [
        [1, 2],
        [3, 4],
        ['a', 'b'],
      ]),
    ).toEqual([3, 7, 'ab']);
    expect(await p.map('square', [])).toEqual([]);
    // Values and typed arrays cross both ways.
    const floats = await p.apply('bytes', [4]);
    expect(floats).toBeInstanceOf(Float64Array);
    expect([...(floats as Float64Array)]).toEqual([1.5, 1.5, 1.5, 1.5]);
  });

  it('map keeps the order of items whose tasks finish in the opposite order', async () => {
    const p = pool();
    const items = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    expect(await p.map('reversedDelay', items, { chunksize: 1 })).toEqual(items);
  });

  it('imap yields in order; imapUnordered yields as tasks complete', async () => {
    const p = pool();
    const ordered: number[] = [];
    for await (const x of p.imap('reversedDelay', [0, 1, 2, 3, 4, 5])) ordered.push(x as number);
    expect(ordered).toEqual([0, 1, 2, 3, 4, 5]);
    const byCompletion: unknown[] = [];
    for await (const x of p.imapUnordered('reversedDelay', [0, 9])) byCompletion.push(x);
    expect(byCompletion).toEqual([9, 0]);
  });

  it('imap reads a sync or async iterable lazily and keeps a bounded number in flight', async () => {
    const p = pool();
    let produced = 0;
    let finished = false;
    function* endless() {
      try {
        for (;;) yield produced++;
      } finally {
        finished = true;
      }
    }
    let consumed = 0;
    for await (const x of p.imap('square', endless())) {
      expect(x).toBe(consumed * consumed);
      if (++consumed === 1000) break;
    }
    // At most 64 chunks per process ahead of the consumer.
    expect(produced).toBeLessThanOrEqual(1000 + 2 * 64);
    expect(finished).toBe(true);
    async function* slowly() {
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        yield i;
      }
    }
    const out: unknown[] = [];
    for await (const x of p.imap('square', slowly(), { chunksize: 2 })) out.push(x);
    expect(out).toEqual([0, 1, 4, 9, 16]);
    expect(await p.apply('add', [1, 1])).toBe(2);
  });

  it('submit of many tiny tasks at once: all answered, each with its own result', async () => {
    const p = pool();
    const results = await Promise.all(Array.from({ length: 5000 }, (_, i) => p.submit('add', i, 1)));
    expect(results).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
  });

  it('workers fill one shared Float64Array, opened by name', async () => {
    const p = pool();
    const name = uniqueName('poolarr');
    const shared = scratch.add(SharedArray.create(name, 'float64', 1000));
    const ranges = Array.from({ length: 10 }, (_, i) => [name, i * 100, (i + 1) * 100]);
    const counts = await p.map('fillSquares', ranges, { chunksize: 1 });
    expect(counts.reduce((a, b) => (a as number) + (b as number), 0)).toBe(1000);
    expect([...shared.array]).toEqual(Array.from({ length: 1000 }, (_, i) => i * i));
  });

  it('an initializer runs in each worker with its initargs', async () => {
    const p = pool({ initializer: 'setup', initargs: [{ answer: 42 }] });
    expect(await p.map('initializedWith', [0, 1, 2, 3], { chunksize: 1 })).toEqual([{ answer: 42 }, { answer: 42 }, { answer: 42 }, { answer: 42 }]);
  });

  it('async task functions are awaited', async () => {
    const p = pool();
    expect(await p.apply('sleep', [20, 'late'])).toBe('late');
  });
});

describe('Pool errors', () => {
  it("a task's exception rejects with its class, message, code, properties and the worker's stack", async () => {
    const p = pool();
    const err = (await rejection(p.apply('throwRange', ['out of range']))) as unknown as RangeError & { code: string; detail: unknown };
    expect(err).toBeInstanceOf(RangeError);
    expect(err.name).toBe('RangeError');
    expect(err.message).toBe('out of range');
    expect(err.code).toBe('E_TASK');
    expect(err.detail).toEqual({ at: 3 });
    expect(err.stack).toContain('throwRange');
    expect(err.stack).toContain('pool-tasks.mjs');
    expect(await rejection(p.apply('throwString', ['plain']))).toBe('plain');
    // The pool goes on.
    expect(await p.apply('add', [2, 2])).toBe(4);
  });

  it('map rejects with the first error; a missing or non-function export is a ShmError naming it and the module', async () => {
    const p = pool();
    const err = await rejection(p.starmap('throwRange', [['first']]));
    expect((err as unknown as Error).message).toBe('first');
    for (const name of ['noSuchFunction', 'notAFunction']) {
      const missing = await rejection(p.apply(name));
      expect(missing).toBeInstanceOf(ShmError);
      expect(missing.code).toBe(ErrorCodes.INVALID_ARG);
      expect(missing.message).toContain(`"${name}"`);
      expect(missing.message).toContain(join(fixtures, 'pool-tasks.mjs'));
    }
  });

  it('arguments or results that cannot cross fail that task only, with a ShmError in terms of the Pool', async () => {
    const p = pool({ capacity: 4096 });
    const failures = [
      [await rejection(p.apply('add', [() => 1, 2])), ErrorCodes.INVALID_ARG],
      [await rejection(p.apply('returnFunction')), ErrorCodes.INVALID_ARG],
      [await rejection(p.apply('add', [new Float64Array(10_000), 1])), ErrorCodes.MESSAGE_TOO_LARGE],
      [await rejection(p.apply('bytes', [10_000])), ErrorCodes.MESSAGE_TOO_LARGE],
      // An exception too large for the pipe: its worker used to crash, failing it with ERR_SHM_WORKER_DIED.
      [await rejection(p.apply('throwLong', [10_000])), ErrorCodes.MESSAGE_TOO_LARGE],
      [await rejection(p.map('bytes', [1, 10_000], { chunksize: 2 })), ErrorCodes.MESSAGE_TOO_LARGE],
    ] as const;
    for (const [err, code] of failures) {
      expect(err).toBeInstanceOf(ShmError);
      expect(err.code).toBe(code);
      // It names the function.
      expect(err.message).toMatch(/"(add|returnFunction|bytes|throwLong)"/);
      // The pipes underneath are the pool's business: the message names the option to change.
      expect(err.message).not.toContain('shmkit-pool-');
      if (code === ErrorCodes.MESSAGE_TOO_LARGE) expect(err.message).toContain('options.capacity: 4096 bytes');
    }
    expect(failures[4][0].message).toContain('the exception thrown by "throwLong"');
    expect(failures[5][0].message).toContain('a chunk of 2 items for "bytes"');
    expect(failures[5][0].message).toContain('a smaller chunksize');
    expect(await p.apply('add', [1, 2])).toBe(3);
  });

  it('a constructor that throws leaves no name in /dev/shm', () => {
    const refused: Array<[PoolOptions, string]> = [
      [{ capacity: 64 }, ErrorCodes.MESSAGE_TOO_LARGE], // the setup message every worker gets first does not fit
      [{ capacity: 4096, initargs: ['x'.repeat(10_000)] }, ErrorCodes.MESSAGE_TOO_LARGE],
      [{ env: { ...process.env, BAD: 'nul\0byte' } }, ErrorCodes.INVALID_ARG],
      [{ env: { BAD: Symbol('not a string') as unknown as string } }, ErrorCodes.INVALID_ARG],
      [{ execArgv: ['--nul\0byte'] }, ErrorCodes.INVALID_ARG],
    ];
    for (const [options, code] of refused) {
      let caught: unknown;
      try {
        pool(options);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ShmError);
      expect((caught as ShmError).code).toBe(code);
      if (code === ErrorCodes.MESSAGE_TOO_LARGE) expect((caught as ShmError).message).toContain('options.capacity');
      expect(leftoverPipes()).toEqual([]);
    }
  });

  it('terminate() while a worker failed to spawn signals no one else (a pid-less kill would hit the process group)', async () => {
    // The fixture runs as a link to node that it removes, so that spawning a worker fails.
    const node = join(mkdtempSync(join(tmp, 'node-')), 'node');
    try {
      linkSync(process.execPath, node);
    } catch {
      copyFileSync(process.execPath, node); // a link across file systems, or one not allowed
    }
    const result = await runDetached(node, [join(fixtures, 'pool-parent.mjs'), 'spawn-fails']);
    expect(result).toMatchObject({ code: 0, signal: null, stdout: 'survived\n' });
  });

  it('a constructor that fails at its k-th worker (EMFILE) kills the workers it started and leaves no name', async () => {
    // A file-descriptor limit makes a worker's pipe fail once some are made.
    const run = await runDetached('sh', ['-c', `ulimit -n 60 && exec "${process.execPath}" "${join(fixtures, 'pool-parent.mjs')}" emfile`]);
    expect(run).toMatchObject({ code: 0, signal: null, stderr: '' });
    const report = JSON.parse(run.stdout) as { code: string; started: number; names: string[]; alive: number[] };
    expect(report.code).toBe('EMFILE');
    expect(report.started).toBeGreaterThan(0);
    expect(report.names).toEqual([]);
    expect(report.alive).toEqual([]);
  });

  it('bad arguments are typed errors, never a crash', async () => {
    const p = pool();
    const expectInvalid = async (promise: Promise<unknown>) => expect((await rejection(promise)).code).toBe(ErrorCodes.INVALID_ARG);
    await expectInvalid(p.apply(42 as unknown as string));
    await expectInvalid(p.apply('add', 'not an array' as unknown as []));
    await expectInvalid(p.map('square', 42 as unknown as number[]));
    await expectInvalid(p.map('square', [1], { chunksize: 0 }));
    await expectInvalid(p.starmap('add', [1, 2] as unknown as [number, number][]));
    await expectInvalid(p.imap('square', null as unknown as number[]).next());
    await expectInvalid(p.apply('add', [1, 2], { signal: {} as AbortSignal }));
    const construct = (module: unknown, options: unknown) => () => new Pool(module as string, options as object);
    expect(construct(42, {})).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    expect(construct('https://example.com/tasks.mjs', {})).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    expect(construct(join(tmp, 'missing.mjs'), {})).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    // A relative path is taken from the working directory: the message says so, and what to pass instead.
    expect(construct('./no-such-tasks.mjs', {})).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining(`new URL("./no-such-tasks.mjs", import.meta.url)`) }),
    );
    expect(construct(join(tmp, 'missing.mjs'), {})).toThrow(expect.objectContaining({ message: expect.not.stringContaining('import.meta.url') }));
    expect(construct(TASKS, { processes: 0 })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    expect(construct(TASKS, { maxTasksPerChild: 1.5 })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    expect(construct(TASKS, { initargs: [() => 1] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    expect(construct(TASKS, { execArgv: [1] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    expect(construct(TASKS, { initializer: 7 })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    expect(construct(TASKS, { initargs: null })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    await expectInvalid(p.apply('add', null as unknown as []));
  });

  it('an aborted call rejects with an AbortError; the pool goes on', async () => {
    const p = pool();
    const controller = new AbortController();
    const pending = p.apply('sleep', [300, 'x'], { signal: controller.signal });
    setTimeout(() => controller.abort('enough'), 20);
    const err = await rejection(pending);
    expect(err.name).toBe('AbortError');
    expect(err.code).toBe('ABORT_ERR');
    expect(err.cause).toBe('enough');
    expect((await rejection(p.map('square', [1], { signal: AbortSignal.abort() }))).name).toBe('AbortError');
    expect(await p.apply('add', [1, 2])).toBe(3);
  });
});

describe('Pool scheduling', () => {
  it('head of line: while one worker runs a long task, quick tasks sent after it all run on the other, before it ends', async () => {
    const p = pool();
    await until(() => p.pids.length === 2);
    // square and pid are known to be quick, so they go in batches (a worker used to be sent two ahead).
    await p.map(
      'square',
      Array.from({ length: 100 }, (_, i) => i),
    );
    await Promise.all(Array.from({ length: 20 }, () => p.submit('pid')));
    let longDone = false;
    const long = p.apply('spin', [2000]).then((pid) => {
      longDone = true;
      return pid as number;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await p.map('square', [1, 2, 3, 4, 5, 6, 7, 8])).toEqual([1, 4, 9, 16, 25, 36, 49, 64]);
    const pids = await Promise.all(Array.from({ length: 6 }, () => p.submit('pid')));
    // A generous bound: the old scheduler left half of them behind the 2 s task.
    expect(longDone).toBe(false);
    expect(pids).not.toContain(await long);
  });

  it("a quick function's call that runs long: an idle worker takes back the tasks sent behind it", async () => {
    const p = pool();
    // spin(0) is quick: the pool learns to send spin tasks in batches, so the long one goes with others behind it.
    await p.map(
      'spin',
      Array.from({ length: 100 }, () => 0),
      { chunksize: 1 },
    );
    let longDone = false;
    const long = p.submit('spin', 2000).then((pid) => {
      longDone = true;
      return pid;
    });
    const quick = await Promise.all(Array.from({ length: 20 }, () => p.submit('spin', 0)));
    // A generous bound: the old scheduler left half of them behind the 2 s task. (They may share its
    // worker, having run there before it: a worker still loading the module has its tasks taken too.)
    expect(longDone).toBe(false);
    expect(quick).toHaveLength(20);
    expect(typeof (await long)).toBe('number');
  });

  it('submit takes { signal, timeout } through Pool.options, after the arguments; every call takes them', async () => {
    const p = pool();
    // Wrapped options are not an argument.
    expect(await p.submit('add', 1, 2, Pool.options({ timeout: 30_000 }))).toBe(3);
    expect(await p.submit('add', 1, 2, Pool.options({}))).toBe(3);
    const timedOut = await rejection(p.submit('sleep', 30_000, 'late', Pool.options({ timeout: 100 })));
    expect(timedOut).toBeInstanceOf(ShmError);
    expect(timedOut.code).toBe(ErrorCodes.TIMEOUT);
    expect(timedOut.message).toContain('pool.submit("sleep")');
    expect(timedOut.message).toContain('options.timeout (100 ms)');
    const controller = new AbortController();
    const pending = p.submit('sleep', 30_000, 'late', Pool.options({ signal: controller.signal }));
    setTimeout(() => controller.abort('enough'), 50);
    const aborted = await rejection(pending);
    expect(aborted.name).toBe('AbortError');
    expect(aborted.code).toBe('ABORT_ERR');
    expect(aborted.cause).toBe('enough');
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['apply', () => p.apply('sleep', [30_000, 1], { timeout: 100 })],
      ['map', () => p.map('sleep', [30_000, 30_000, 1], { chunksize: 1, timeout: 100 })],
      ['starmap', () => p.starmap('sleep', [[30_000, 1]], { timeout: 100 })],
      ['imap', () => p.imap('sleep', [30_000], { timeout: 100 }).next()],
      ['imapUnordered', () => p.imapUnordered('sleep', [30_000], { timeout: 100 }).next()],
    ];
    for (const [name, call] of calls) {
      const err = await within(rejection(call()), 10_000, name);
      expect(err.code, name).toBe(ErrorCodes.TIMEOUT);
      expect(err.message, name).toContain(`pool.${name}("sleep")`);
    }
    // A timeout that has passed already: nothing is sent.
    expect((await rejection(p.apply('add', [1, 2], { timeout: 0 }))).code).toBe(ErrorCodes.TIMEOUT);
    for (const timeout of [-1, Number.NaN, '5', null]) {
      expect((await rejection(p.submit('add', 1, 2, Pool.options({ timeout } as never)))).code).toBe(ErrorCodes.INVALID_ARG);
      expect((await rejection(p.map('square', [1], { timeout } as never))).code).toBe(ErrorCodes.INVALID_ARG);
    }
    expect((await rejection(p.submit('add', 1, 2, Pool.options(42 as never)))).code).toBe(ErrorCodes.INVALID_ARG);
    expect(await p.map('square', [1, 2, 3], { timeout: 30_000 })).toEqual([1, 4, 9]);
  });

  it('a runaway task with a timeout is ended by replacing its worker: the tasks before it keep their answers, those queued behind it run elsewhere, later calls answer, no name is left', async () => {
    const p = pool({ processes: 1 });
    // spin(0) is quick: what follows goes to the one worker as one batch, the runaway in the middle.
    await p.map(
      'spin',
      Array.from({ length: 100 }, () => 0),
      { chunksize: 1 },
    );
    const [victim] = p.pids;
    const before = Array.from({ length: 3 }, () => p.submit('spin', 0));
    const runaway = p.apply('spin', [60_000], { timeout: 300 });
    const after = Array.from({ length: 3 }, () => p.submit('spin', 0));
    const err = await within(rejection(runaway), 20_000, 'the runaway task');
    expect(err).toBeInstanceOf(ShmError);
    expect(err.code).toBe(ErrorCodes.TIMEOUT);
    expect(err.message).toContain('pool.apply("spin") did not finish within options.timeout (300 ms)');
    expect(await within(Promise.all(before), 20_000, 'the tasks sent before it')).toEqual([victim, victim, victim]);
    const elsewhere = await within(Promise.all(after), 20_000, 'the tasks sent behind it');
    expect(elsewhere.filter((pid) => pid === victim)).toEqual([]);
    const later = await within(Promise.all(Array.from({ length: 6 }, () => p.submit('pid'))), 20_000, 'later submits');
    expect(later).toHaveLength(6);
    await until(() => !alive(victim as number));
    expect(p.pids).toHaveLength(1);
    expect(leftoverPipes()).toEqual([]);
  });

  it('a task that never returns, aborted by AbortSignal.timeout: its worker is replaced and six later submits all answer', async () => {
    const p = pool();
    await p.map('pid', [1, 2], { chunksize: 1 }); // both ready: the hang task starts at once
    const before = p.pids;
    const err = await within(rejection(p.apply('hang', [], { signal: AbortSignal.timeout(200) })), 20_000, 'the aborted call');
    expect(err.name).toBe('AbortError');
    const pids = await within(Promise.all(Array.from({ length: 6 }, () => p.submit('pid'))), 20_000, 'later submits');
    expect(pids).toHaveLength(6);
    await until(() => before.filter(alive).length === 1);
    await until(() => p.pids.length === 2);
    // The killed worker's names went with it; the replacement's go once it has opened them.
    await until(() => leftoverPipes().length === 0);
  });
});

describe('Pool workers', () => {
  it('a worker killed by a signal fails the task it held with ERR_SHM_WORKER_DIED; a replacement takes over', async () => {
    const p = pool();
    await until(() => p.pids.length === 2);
    const before = p.pids;
    const err = await rejection(p.apply('dieBySignal'));
    expect(err).toBeInstanceOf(WorkerDiedError);
    expect(err.code).toBe(ErrorCodes.WORKER_DIED);
    expect((err as WorkerDiedError).signal).toBe('SIGKILL');
    expect((err as WorkerDiedError).exitCode).toBe(null);
    const exited = await rejection(p.apply('exitWith', [3]));
    expect((exited as WorkerDiedError).exitCode).toBe(3);
    expect(await p.map('square', [1, 2, 3], { chunksize: 1 })).toEqual([1, 4, 9]);
    expect(p.pids).toHaveLength(2);
    expect(p.pids.filter((pid) => before.includes(pid)).length).toBeLessThan(2);
  });

  it('a worker SIGKILLed from outside mid-task: only the task it ran fails, the ones queued behind it run elsewhere', async () => {
    const p = pool({ processes: 1 });
    // spin(0) is tiny: the pool learns to send spin tasks in batches, so the three below go in one.
    await p.map('spin', [0, 0, 0, 0, 0, 0], { chunksize: 1 });
    const calls = [p.apply('spin', [400]), p.map('spin', [0, 0], { chunksize: 1 }), p.submit('spin', 0)];
    await new Promise((resolve) => setTimeout(resolve, 150));
    const [victim] = p.pids;
    process.kill(victim as number, 'SIGKILL');
    const [spun, mapped, added] = await Promise.allSettled(calls);
    expect(spun?.status).toBe('rejected');
    expect(((spun as PromiseRejectedResult).reason as ShmError).code).toBe(ErrorCodes.WORKER_DIED);
    expect(mapped?.status).toBe('fulfilled');
    expect((mapped as PromiseFulfilledResult<number[]>).value).toHaveLength(2);
    expect((mapped as PromiseFulfilledResult<number[]>).value).not.toContain(victim);
    expect(added?.status).toBe('fulfilled');
    expect((added as PromiseFulfilledResult<unknown>).value).not.toBe(victim);
  });

  it('a call awaiting a task that kills its worker settles, with nothing else keeping the program alive', async () => {
    // The pipe may tell of the death before the exit is reported; the program then used to end
    // with exit code 13 (an unsettled await) now and then: several programs, many deaths.
    const runs = await Promise.all(Array.from({ length: 3 }, () => runDetached(process.execPath, [join(fixtures, 'pool-parent.mjs'), 'deaths', '20'])));
    for (const run of runs) {
      expect(run).toMatchObject({ code: 0, signal: null, stderr: '' });
      expect(JSON.parse(run.stdout)).toEqual(Array.from({ length: 20 }, () => ErrorCodes.WORKER_DIED));
    }
  });

  it('maxTasksPerChild replaces each worker after that many tasks', async () => {
    const p = pool({ maxTasksPerChild: 1 });
    const pids = await p.map('pid', [0, 1, 2, 3, 4, 5], { chunksize: 1 });
    expect(new Set(pids).size).toBe(6);
  });

  /** A pool of one worker that loads pool-slow-start.mjs: it waits, or exits, until `go()`; `starters()` lists the pids that began loading it. */
  function slowStartPool(mode: 'wait' | 'exit') {
    const dir = mkdtempSync(join(tmp, 'start-'));
    const p = pool({ processes: 1, env: { ...process.env, SHMKIT_TEST_START_DIR: dir, SHMKIT_TEST_START: mode } }, SLOW_START);
    const starters = () => readdirSync(dir).flatMap((entry) => (entry === 'go' ? [] : [Number(entry)]));
    return { p, starters, go: () => writeFileSync(join(dir, 'go'), '') };
  }

  it('workers SIGKILLed while they load the module are replaced, not taken for a broken module: the call then runs', async () => {
    const { p, starters, go } = slowStartPool('wait');
    const call = p.apply('pid');
    const killed: number[] = [];
    for (let i = 0; i < 5; i++) {
      const next = () => starters().find((pid) => !killed.includes(pid));
      await until(() => next() !== undefined);
      const victim = next() as number;
      process.kill(victim, 'SIGKILL');
      killed.push(victim);
    }
    go();
    const ran = (await call) as number;
    expect(killed).not.toContain(ran);
    expect(await p.map('pid', [1, 2, 3], { chunksize: 1 })).toEqual([ran, ran, ran]);
  });

  it('8 workers in a row dying while starting fail the waiting call with ERR_SHM_WORKER_DIED; the next call starts workers again', async () => {
    const { p, starters, go } = slowStartPool('exit');
    const err = await rejection(p.apply('pid'));
    expect(err).toBeInstanceOf(WorkerDiedError);
    expect(err.code).toBe(ErrorCodes.WORKER_DIED);
    expect((err as WorkerDiedError).exitCode).toBe(3);
    expect(err.message).toContain('8 pool workers in a row died while starting');
    expect(starters()).toHaveLength(8);
    expect(p.pids).toEqual([]); // it stopped trying
    const dead = starters();
    go();
    expect(dead).not.toContain(await p.apply('pid'));
  });

  it('a replacement that cannot be made (EMFILE) is retried, not a crash: the next task runs once descriptors are free', async () => {
    const run = await runDetached('sh', ['-c', `ulimit -n 200 && exec "${process.execPath}" "${join(fixtures, 'pool-parent.mjs')}" no-fds`]);
    expect(run).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(JSON.parse(run.stdout)).toEqual({ died: ErrorCodes.WORKER_DIED, recovered: 3 });
  });

  it('a module that cannot load fails the calls with ERR_SHM_WORKER_START instead of restarting', async () => {
    const broken = join(tmp, 'broken.mjs');
    writeFileSync(broken, 'export function f( {\n');
    const p = pool({}, broken);
    const err = await rejection(p.apply('f'));
    expect(err.code).toBe(ErrorCodes.WORKER_START);
    expect(err.cause).toBeInstanceOf(SyntaxError);
    expect((await rejection(p.apply('f'))).code).toBe(ErrorCodes.WORKER_START);
    await until(() => p.pids.length === 0);
    await p.close();
  });

  it('an initializer that throws fails the pool with its error as the cause', async () => {
    const p = pool({ initializer: 'failingSetup' });
    const err = await rejection(p.map('square', [1, 2]));
    expect(err.code).toBe(ErrorCodes.WORKER_START);
    expect(err.message).toContain('setup refused');
    expect((err.cause as Error).message).toBe('setup refused');
    const missing = pool({ initializer: 'noSuchSetup' });
    expect((await rejection(missing.apply('add', [1, 2]))).code).toBe(ErrorCodes.WORKER_START);
  });
});

describe('Pool close and terminate', () => {
  it('close() lets queued tasks finish, then the workers exit; later calls are ERR_SHM_CLOSED', async () => {
    const p = pool();
    await until(() => p.pids.length === 2);
    const pids = p.pids;
    const work = Promise.all([p.apply('sleep', [100, 'a']), p.apply('sleep', [100, 'b']), p.apply('sleep', [50, 'c'])]);
    await p.close();
    expect(await work).toEqual(['a', 'b', 'c']);
    expect(pids.some(alive)).toBe(false);
    expect(p.pids).toEqual([]);
    expect((await rejection(p.apply('add', [1, 2]))).code).toBe(ErrorCodes.CLOSED);
    await p.close(); // idempotent
  });

  it('await using closes the pool at the end of the scope', async () => {
    let pids: number[] = [];
    {
      await using p = new Pool(TASKS, { processes: 1 });
      expect(await p.apply('add', [1, 2])).toBe(3);
      pids = p.pids;
    }
    expect(pids.some(alive)).toBe(false);
  });

  it('terminate() stops at once: pending tasks reject with ERR_SHM_CLOSED, workers are gone', async () => {
    const p = pool();
    await until(() => p.pids.length === 2);
    const pids = p.pids;
    const pending = Promise.allSettled([p.apply('spin', [5000]), p.apply('sleep', [5000, 1]), p.apply('add', [1, 2])]);
    await p.terminate();
    for (const result of await pending) {
      expect(result.status).toBe('rejected');
      expect(((result as PromiseRejectedResult).reason as ShmError).code).toBe(ErrorCodes.CLOSED);
    }
    expect(pids.some(alive)).toBe(false);
  });

  it('a program that never closes its pool still exits, and its workers with it', async () => {
    const run = startFixture('pool-parent.mjs', ['forget']);
    const pids = JSON.parse(await run.line()) as number[];
    const result = await run.done;
    expect(result.code).toBe(0);
    await until(() => !pids.some(alive));
    expect(leftoverPipes(run.child.pid)).toEqual([]);
  });

  it('workers of a SIGKILLed parent notice and exit, leaving nothing in /dev/shm', async () => {
    const run = startFixture('pool-parent.mjs', ['hang']);
    const pids = JSON.parse(await run.line()) as number[];
    expect(pids).toHaveLength(2);
    run.child.kill('SIGKILL');
    await run.done;
    await until(() => !pids.some(alive));
    expect(leftoverPipes(run.child.pid)).toEqual([]);
  });
});

describe('Pool examples', () => {
  it.each([
    ['primes.mjs', /^\d+ processes: 283146 primes/m],
    ['fill-shared.mjs', /^1000000 elements written by \d+ processes; sines\.array\[12345\] = -0\.993772$/m],
    ['pipeline.mjs', /^producer: 10000 jobs, expected sum of squares 333383335000$/m],
  ])('examples/%s runs', async (script, expected) => {
    const run = await start(process.execPath, [join(root, 'examples', script)]).done;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(expected);
    if (script === 'pipeline.mjs') {
      const sums = [...run.stdout.matchAll(/sum of squares (\d+)$/gm)].map((m) => Number(m[1]));
      expect(sums.slice(0, 2).reduce((a, b) => a + b, 0)).toBe(sums[2]);
    }
  });
});

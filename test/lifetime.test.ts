// The lifetime of names (README "Lifetime of names", docs/design.md):
// unlinkOnExit, Scope, openOrCreate, the EEXIST/ENOENT messages, and unlink
// of the right kind only. Every process here is a real one; every name is
// looked for in /dev/shm itself.
import { readdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Barrier,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  Pipe,
  Queue,
  RLock,
  Scope,
  Semaphore,
  ShareableList,
  Array as SharedArray,
  SharedList,
  SharedMap,
  SharedMemory,
  ShmError,
  Value,
} from '../dist/index.js';
import { expectCode, fixtures, type Running, root, Scratch, start, startFixture, uniqueName } from './helpers.js';

const ALL_KINDS = ['value', 'array', 'lock', 'rlock', 'event', 'condition', 'barrier', 'bsem', 'queue', 'pipe', 'map', 'list', 'shm', 'slist', 'sem'];
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** A generous limit for a child that should end by itself: past it the test fails instead of hanging. */
const HANG_MS = 30_000;

/** The /dev/shm entries (segments, and semaphores as sem.NAME) whose names start with `prefix`. */
function left(prefix: string): string[] {
  return readdirSync('/dev/shm')
    .filter((entry) => entry.startsWith(prefix) || entry.startsWith(`sem.${prefix}`))
    .sort();
}

/** Removes whatever a test's child left under `prefix` (a failing test must not leak). */
function sweep(prefix: string): void {
  for (const entry of left(prefix)) {
    try {
      if (entry.startsWith('sem.')) Semaphore.unlink(entry.slice(4));
      else SharedMemory.unlink(entry);
    } catch {
      // gone meanwhile
    }
  }
}

const prefixes: string[] = [];
function prefixFor(label: string): string {
  const prefix = `${uniqueName(label)}_`;
  prefixes.push(prefix);
  return prefix;
}

const scratch = new Scratch();
afterEach(() => {
  scratch.cleanup();
  for (const prefix of prefixes.splice(0)) sweep(prefix);
});

/** Starts the lifetime child and waits for its "ready"; it is SIGKILLed if it outlives HANG_MS. */
async function child(how: string, then: string, prefix: string, kinds: string[]): Promise<Running> {
  const run = startFixture('lifetime-child.mjs', [how, then, prefix, ...kinds]);
  const watchdog = setTimeout(() => run.child.kill('SIGKILL'), HANG_MS);
  run.done.finally(() => clearTimeout(watchdog));
  await run.line((line) => line === 'ready');
  return run;
}

/** Waits until `check` holds (polling), up to a generous limit. */
async function eventually(check: () => boolean): Promise<boolean> {
  const until = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe('unlinkOnExit', () => {
  it.each([
    ['returns', 'exit', 0],
    ['calls process.exit(3)', 'exit-code', 3],
    ['throws an uncaught exception', 'throw', 1],
  ])('every kind: a process that %s removes its names', async (_, then, code) => {
    const prefix = prefixFor('ue');
    const run = await child('unlinkOnExit', then, prefix, ALL_KINDS);
    const result = await run.done;
    expect(result.code).toBe(code);
    expect(left(prefix)).toEqual([]);
  });

  it.each(SIGNALS)('every kind: %s with no handler of the program removes the names, and the process dies by the signal', async (signal) => {
    const prefix = prefixFor('us');
    const run = await child('unlinkOnExit', 'wait', prefix, ALL_KINDS);
    expect(left(prefix)).toHaveLength(ALL_KINDS.length);
    run.child.kill(signal);
    const result = await run.done;
    expect(result.signal).toBe(signal);
    expect(left(prefix)).toEqual([]);
  });

  it.each(SIGNALS)('%s while the main thread is blocked in a sync wait: the names go and the process dies by it', async (signal) => {
    const prefix = prefixFor('ub');
    const run = await child('unlinkOnExit', 'blocked', prefix, ['value', 'queue', 'shm', 'sem']);
    run.child.kill(signal);
    const result = await run.done;
    expect(result.signal).toBe(signal);
    expect(left(prefix)).toEqual([]);
  });

  it.each(SIGNALS)('%s with a handler of the program: the names go, and the handler decides (it exits 7)', async (signal) => {
    const prefix = prefixFor('uh');
    const run = await child('unlinkOnExit', 'handler', prefix, ['value', 'map', 'shm', 'sem']);
    run.child.kill(signal);
    const result = await run.done;
    expect(result.signal).toBe(null);
    expect(result.code).toBe(7);
    expect(result.stdout).toContain(`handled ${signal}`);
    expect(left(prefix)).toEqual([]);
  });

  it('a signal the program handles, while it is blocked: the names go at once, and the process lives on', async () => {
    const prefix = prefixFor('uk');
    const run = await child('unlinkOnExit', 'blocked-handler', prefix, ['value', 'sem']);
    run.child.kill('SIGTERM');
    expect(await eventually(() => left(prefix).length === 0)).toBe(true);
    expect(run.child.exitCode).toBe(null);
    expect(run.child.signalCode).toBe(null);
    run.child.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
  });

  it('never removes a name that another object took since: only the object it created', async () => {
    const prefix = prefixFor('ui');
    const run = await child('unlinkOnExit', 'wait', prefix, ['value', 'shm', 'sem']);
    // Someone removes the child's objects and makes new ones under the same names.
    Value.unlink(`${prefix}value`);
    SharedMemory.unlink(`${prefix}shm`);
    Semaphore.unlink(`${prefix}sem`);
    const mine = scratch.add(Value.create(`${prefix}value`, 'int32', 42));
    scratch.add(new SharedMemory({ name: `${prefix}shm`, create: true, size: 8 }));
    scratch.add(Semaphore.create(`${prefix}sem`, 0));
    run.child.kill('SIGTERM');
    expect((await run.done).signal).toBe('SIGTERM');
    expect(left(prefix)).toEqual([`${prefix}shm`, `${prefix}value`, `sem.${prefix}sem`].sort());
    expect(Value.open(`${prefix}value`).value).toBe(mine.value);
  });

  it('listens for the signals only while it has names to remove, and removing them by hand ends that', () => {
    const before = SIGNALS.map((signal) => process.listenerCount(signal));
    const value = Value.create(uniqueName(), 'int32', 0, { unlinkOnExit: true });
    const lock = Lock.create(uniqueName(), { unlinkOnExit: true });
    expect(SIGNALS.map((signal) => process.listenerCount(signal))).toEqual(before.map((n) => n + 1));
    value.unlink();
    expect(SIGNALS.map((signal) => process.listenerCount(signal))).toEqual(before.map((n) => n + 1));
    Lock.unlink(lock.name);
    expect(SIGNALS.map((signal) => process.listenerCount(signal))).toEqual(before);
    value.close();
    lock.close();
  });

  it('is checked before anything is created', () => {
    const name = uniqueName();
    expectCode(() => Value.create(name, 'int32', 0, { unlinkOnExit: 'yes' as unknown as boolean }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => new SharedMemory({ name, create: true, size: 8, unlinkOnExit: 1 as unknown as boolean }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.open(name), 'ENOENT');
  });
});

describe('Scope', () => {
  it('close() closes the handles it made and removes their names; a second close does nothing', () => {
    const scope = new Scope();
    const prefix = prefixFor('sc');
    const value = Value.create(`${prefix}v`, 'int32', 1, { scope });
    const queue = Queue.create(`${prefix}q`, { capacity: 4096, scope });
    const shm = new SharedMemory({ name: `${prefix}m`, create: true, size: 16, scope });
    const list = SharedList.create(`${prefix}l`, { scope });
    const opened = scope.add(Event.create(`${prefix}e`));
    expect(scope.names.sort()).toEqual([`${prefix}e`, `${prefix}l`, `${prefix}m`, `${prefix}q`, `${prefix}v`]);
    const report = scope.close();
    expect(report.removed.sort()).toEqual([`${prefix}e`, `${prefix}l`, `${prefix}m`, `${prefix}q`, `${prefix}v`]);
    expect(report.kept).toEqual([]);
    expect([value.closed, queue.closed, shm.closed, list.closed, opened.closed]).toEqual([true, true, true, true, true]);
    expect(left(prefix)).toEqual([]);
    expect(scope.closed).toBe(true);
    expect(scope.close()).toEqual({ removed: [], kept: [] });
  });

  it('`using` and `await using` close it at the end of the block', async () => {
    const prefix = prefixFor('su');
    {
      using scope = new Scope();
      Lock.create(`${prefix}a`, { scope });
    }
    {
      await using scope = new Scope();
      Barrier.create(`${prefix}b`, 2, { scope });
    }
    expect(left(prefix)).toEqual([]);
  });

  it('by default keeps an object another process holds open, and says why; force removes it', async () => {
    const prefix = prefixFor('sh');
    const scope = new Scope();
    scratch.add(Queue.create(`${prefix}queue`, { capacity: 4096, scope }));
    scratch.add(new SharedMemory({ name: `${prefix}shm`, create: true, size: 64, scope }));
    scratch.add(Value.create(`${prefix}value`, 'int32', 0, { scope }));
    // Another process opens the queue and the segment, and holds them.
    const held = start(process.execPath, [
      '--input-type=module',
      '-e',
      `import { Queue, SharedMemory } from 'shmkit'; Queue.open(${JSON.stringify(`${prefix}queue`)}); new SharedMemory(${JSON.stringify(`${prefix}shm`)}); console.log('holding'); setInterval(() => {}, 1000);`,
    ]);
    try {
      await held.line((line) => line === 'holding');
      const report = scope.close();
      expect(report.removed).toEqual([`${prefix}value`]);
      expect(report.kept).toEqual([
        { name: `${prefix}queue`, reason: 'another handle holds it open' },
        { name: `${prefix}shm`, reason: 'another handle holds it open' },
      ]);
      expect(left(prefix)).toEqual([`${prefix}queue`, `${prefix}shm`]);
      const again = new Scope({ force: true });
      again.add(Queue.open(`${prefix}queue`));
      again.add(new SharedMemory(`${prefix}shm`));
      expect(again.close().removed).toEqual([`${prefix}queue`, `${prefix}shm`]);
      expect(left(prefix)).toEqual([]);
    } finally {
      held.child.kill('SIGKILL');
      await held.done;
    }
  });

  it('closeHandles: false removes the names and leaves its handles open and working; a handle it does not hold keeps the name', () => {
    const prefix = prefixFor('sk');
    const scope = new Scope({ closeHandles: false });
    const map = scratch.add(SharedMap.create(`${prefix}m`, { scope }));
    const value = scratch.add(Value.create(`${prefix}v`, 'int32', 0, { scope }));
    const outside = scratch.add(Value.open(`${prefix}v`)); // this process's, but not the scope's
    const report = scope.close();
    expect(report.removed).toEqual([`${prefix}m`]);
    expect(report.kept).toEqual([{ name: `${prefix}v`, reason: 'another handle holds it open' }]);
    map.set('still', 'works');
    expect(map.get('still')).toBe('works');
    value.value = 3;
    expect(outside.value).toBe(3);
  });

  it('a Semaphore (no record of who has it open) is removed only by force', () => {
    const prefix = prefixFor('ss');
    const kept = new Scope();
    const sem = Semaphore.create(`${prefix}s`, 1, { scope: kept });
    expect(kept.close().kept).toEqual([{ name: `${prefix}s`, reason: expect.stringContaining('keeps no record of who has it open') }]);
    expect(sem.closed).toBe(true);
    expect(left(prefix)).toEqual([`sem.${prefix}s`]);
    const forced = new Scope();
    forced.add(Semaphore.open(`${prefix}s`));
    expect(forced.close({ force: true }).removed).toEqual([`${prefix}s`]);
    expect(left(prefix)).toEqual([]);
  });

  it('refuses what it cannot hold, and a closed scope, before anything is created', () => {
    const scope = new Scope();
    expectCode(() => scope.add({ name: 'x', close() {} }), 'ERR_SHM_INVALID_ARG');
    const value = scratch.add(Value.create(uniqueName(), 'int32', 0));
    expectCode(() => scope.add(value.lock), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.create(uniqueName(), 'int32', 0, { scope: {} as Scope }), 'ERR_SHM_INVALID_ARG');
    scope.close();
    const name = uniqueName();
    expectCode(() => Queue.create(name, { scope }), 'ERR_SHM_CLOSED');
    expectCode(() => scope.add(value), 'ERR_SHM_CLOSED');
    expectCode(() => Queue.open(name), 'ENOENT');
  });

  it('a process with a scope that exits removes its names, but not one another process holds open', async () => {
    const prefix = prefixFor('se');
    const kinds = ALL_KINDS.filter((kind) => kind !== 'sem');
    const run = await child('scope', 'wait', prefix, kinds);
    const held = scratch.add(Queue.open(`${prefix}queue`));
    run.child.kill('SIGTERM');
    const result = await run.done;
    expect(result.signal).toBe('SIGTERM');
    expect(left(prefix)).toEqual([`${prefix}queue`]);
    held.close();
    const normal = await child('scope', 'exit', `${prefix}n`, kinds);
    expect((await normal.done).code).toBe(0);
    expect(left(`${prefix}n`)).toEqual([]);
  });

  it.each(SIGNALS)('with force, %s removes every name, held or not, and the process dies by it', async (signal) => {
    const prefix = prefixFor('sf');
    const run = await child('scope-force', 'blocked', prefix, ALL_KINDS);
    scratch.add(Queue.open(`${prefix}queue`));
    run.child.kill(signal);
    expect((await run.done).signal).toBe(signal);
    expect(left(prefix)).toEqual([]);
  });

  it.each(['lock', 'shm'])(
    "never removes a %s from under a process that is opening it (gc's rule, its own handles left out or closed)",
    async (kind) => {
      const prefix = prefixFor('sr');
      const names = Array.from({ length: 4 }, (_, i) => `${prefix}${i}`);
      const churners = [0, 1].map(() => startFixture('gc-churn.mjs', [prefix, String(names.length), kind]));
      let removed = 0;
      let rounds = 0;
      try {
        await Promise.all(churners.map((c) => c.line((line) => line === 'running')));
        // At least 3 s, and until something was removed (a loaded machine starts node slowly).
        for (const until = Date.now() + 3000, limit = Date.now() + 20_000; Date.now() < until || (removed === 0 && Date.now() < limit); rounds++) {
          for (const name of names) {
            let handle: Lock | SharedMemory;
            try {
              handle = kind === 'shm' ? new SharedMemory(name) : Lock.open(name);
            } catch (err) {
              // ENOENT: removed; ERR_SHM_EMPTY: a segment a churner has not sized yet.
              if ((err as ShmError).code === 'ENOENT' || (err as ShmError).code === 'ERR_SHM_EMPTY') continue;
              throw err;
            }
            // Every other round the scope keeps its handle open: its token is then left out of the lock.
            const closeHandles = rounds % 2 === 0;
            const scope = new Scope({ closeHandles });
            scope.add(handle);
            removed += scope.close().removed.length;
            handle.close();
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      } finally {
        for (const c of churners) c.child.stdin!.end();
      }
      const reports = await Promise.all(churners.map(async (c) => JSON.parse(await c.line((line) => line.startsWith('{')))));
      const cycles = reports.map((r) => r.cycles).join(' + ');
      console.log(`scope race (${kind}): ${removed} removals in ${rounds} rounds, ${cycles} open/close cycles`);
      expect(removed).toBeGreaterThan(0);
      expect(reports.map((r) => r.heldRemoved)).toEqual([0, 0]);
    },
    60_000,
  );

  it("a SIGKILLed scope's shmkit objects are left to `shmkit gc`, which removes them: no live handle holds them", async () => {
    const prefix = prefixFor('sg');
    const run = await child('scope', 'wait', prefix, ['value', 'queue', 'map', 'shm']);
    run.child.kill('SIGKILL');
    await run.done;
    expect(left(prefix)).toEqual([`${prefix}map`, `${prefix}queue`, `${prefix}shm`, `${prefix}value`]);
    const gc = await start(process.execPath, [join(root, 'bin', 'shmkit.mjs'), 'gc', '--older-than', '0', '--force', '--prefix', prefix]).done;
    expect(gc.code).toBe(0);
    // A raw SharedMemory has no header: gc never removes one.
    expect(left(prefix)).toEqual([`${prefix}shm`]);
  });
});

describe('openOrCreate', () => {
  it('8 processes racing: exactly one creates each object, and all of them share it', async () => {
    const prefix = prefixFor('or');
    const parties = 8;
    const ctl = scratch.add(SharedArray.create(`${prefix}ctl`, 'int32', 1));
    const runs = Array.from({ length: parties }, () =>
      start(process.execPath, [join(fixtures, 'open-or-create.mjs'), 'race', prefix, ctl.name, String(parties)], { env: { NODE_DEBUG: 'shmkit' } }),
    );
    const watchdog = setTimeout(() => {
      for (const run of runs) run.child.kill('SIGKILL');
    }, 60_000);
    const results = await Promise.all(runs.map((run) => run.done));
    clearTimeout(watchdog);
    for (const result of results) {
      expect(result.stderr).not.toMatch(/Error/);
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ value: parties, map: parties, shm: parties, list: [0, 'written'] });
    }
    const stderr = results.map((result) => result.stderr).join('');
    const created = (what: string, name: string) => stderr.split('\n').filter((line) => line.includes(`create ${what} "${prefix}${name}"`)).length;
    expect([created('Value', 'v'), created('Barrier', 'b'), created('Queue', 'q'), created('SharedMap', 'm')]).toEqual([1, 1, 1, 1]);
    expect([created('SharedMemory', 'r'), created('SharedMemory', 'l'), created('Semaphore', 's')]).toEqual([1, 1, 1]);
    const queue = scratch.add(Queue.open(`${prefix}q`));
    expect(queue.qsize()).toBe(parties);
    for (const name of ['v', 'b', 'q', 'm']) SharedMemory.unlink(`${prefix}${name}`);
    ShareableList.unlink(`${prefix}l`);
    SharedMemory.unlink(`${prefix}r`);
    Semaphore.unlink(`${prefix}s`);
  }, 90_000);

  it('opens what another process keeps creating and removing, never failing for it (ENOENT, EEXIST)', async () => {
    const name = uniqueName('churn');
    const churn = start(process.execPath, [join(fixtures, 'open-or-create.mjs'), 'churn', name, '3000']);
    const users = Array.from({ length: 2 }, () => start(process.execPath, [join(fixtures, 'open-or-create.mjs'), 'use', name, '400']));
    const results = await Promise.all(users.map((user) => user.done));
    churn.child.kill('SIGKILL');
    await churn.done;
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('ok 400');
    }
    try {
      SharedMemory.unlink(name); // the churner was killed anywhere, maybe half way through a create
    } catch (err) {
      if ((err as ShmError).code !== 'ENOENT') throw err;
    }
  }, 60_000);

  it('every kind: creates when the name is missing, opens the same object when it exists', async () => {
    const n = () => uniqueName('oc');
    const value = n();
    const a = scratch.add(Value.openOrCreate(value, 'int32', 5));
    const b = scratch.add(Value.openOrCreate(value, 'i', 9));
    expect(b.value).toBe(5);
    const array = n();
    scratch.add(SharedArray.openOrCreate(array, 'float64', [1, 2]));
    expect([...scratch.add(SharedArray.openOrCreate(array, 'd', 2)).array]).toEqual([1, 2]);
    for (const Kind of [Lock, RLock, Event, Condition]) {
      const name = n();
      const first = scratch.add(Kind.openOrCreate(name));
      const second = scratch.add(Kind.openOrCreate(name));
      expect(second.name).toBe(first.name);
    }
    const event = n();
    scratch.add(Event.openOrCreate(event)).set();
    expect(scratch.add(Event.openOrCreate(event)).isSet()).toBe(true);
    const barrier = n();
    scratch.add(Barrier.openOrCreate(barrier, 3));
    expect(scratch.add(Barrier.openOrCreate(barrier, 3)).parties).toBe(3);
    const bounded = n();
    scratch.add(BoundedSemaphore.openOrCreate(bounded, 2)).acquireSync();
    expect(scratch.add(BoundedSemaphore.openOrCreate(bounded, 2)).value).toBe(1);
    const queue = n();
    scratch.add(Queue.openOrCreate(queue, { capacity: 4096 })).putSync('hi');
    expect(scratch.add(Queue.openOrCreate(queue)).getSync()).toBe('hi');
    const pipe = n();
    const end0 = scratch.add(Pipe.openOrCreate(pipe, { capacity: 4096 }));
    const end1 = scratch.add(Pipe.openOrCreate(pipe, { capacity: 4096 }));
    end0.sendSync('ping');
    expect(end1.recvSync()).toBe('ping');
    expectCode(() => Pipe.openOrCreate(pipe), 'ERR_SHM_PIPE_BUSY');
    const map = n();
    scratch.add(SharedMap.openOrCreate(map)).set('k', 1);
    expect(scratch.add(SharedMap.openOrCreate(map)).get('k')).toBe(1);
    const list = n();
    scratch.add(SharedList.openOrCreate(list)).push('x');
    expect(scratch.add(SharedList.openOrCreate(list)).toArray()).toEqual(['x']);
    const shm = n();
    new Uint8Array(scratch.add(SharedMemory.openOrCreate({ name: shm, size: 16 })).buffer)[0] = 7;
    expect(new Uint8Array(scratch.add(SharedMemory.openOrCreate({ name: shm, size: 8 })).buffer)[0]).toBe(7);
    const sl = n();
    scratch.add(ShareableList.openOrCreate(sl, [1, 'two']));
    expect([...scratch.add(ShareableList.openOrCreate(sl, [0, 'other']))]).toEqual([1, 'two']);
    const sem = n();
    scratch.add(Semaphore.openOrCreate(sem, 1)).acquireSync();
    expect(scratch.add(Semaphore.openOrCreate(sem, 1)).tryAcquire()).toBe(false);
    expect(a.value).toBe(5);
  });

  it('an existing object of another shape is ERR_SHM_FORMAT saying what differs, and stays as it was', () => {
    const n = () => uniqueName('os');
    const cases: Array<[string, () => unknown, () => unknown, RegExp]> = [];
    const value = n();
    cases.push(['Value dtype', () => Value.create(value, 'int32', 0), () => Value.openOrCreate(value, 'float64'), /dtype int32.*dtype float64/]);
    const dtype = n();
    cases.push([
      'Array dtype',
      () => SharedArray.create(dtype, 'float64', 4),
      () => SharedArray.openOrCreate(dtype, 'int32', 4),
      /4 float64 elements.*4 int32/,
    ]);
    const length = n();
    cases.push([
      'Array length',
      () => SharedArray.create(length, 'float64', 4),
      () => SharedArray.openOrCreate(length, 'float64', [1, 2]),
      /4 float64.*2 float64/,
    ]);
    const barrier = n();
    cases.push(['Barrier parties', () => Barrier.create(barrier, 2), () => Barrier.openOrCreate(barrier, 3), /2 parties.*3 parties/]);
    const bounded = n();
    cases.push(['BoundedSemaphore bound', () => BoundedSemaphore.create(bounded, 2), () => BoundedSemaphore.openOrCreate(bounded, 5), /bound 2.*bound 5/]);
    const queue = n();
    cases.push([
      'Queue capacity',
      () => Queue.create(queue, { capacity: 4096 }),
      () => Queue.openOrCreate(queue, { capacity: 8192 }),
      /4096 bytes.*8192 bytes/,
    ]);
    const maxsize = n();
    cases.push([
      'Queue maxsize',
      () => Queue.create(maxsize, { capacity: 4096, maxsize: 3 }),
      () => Queue.openOrCreate(maxsize, { maxsize: 4 }),
      /maxsize 3.*maxsize 4/,
    ]);
    const pipe = n();
    cases.push(['Pipe capacity', () => Pipe.create(pipe, { capacity: 4096 }), () => Pipe.openOrCreate(pipe, { capacity: 8192 }), /4096 bytes.*8192 bytes/]);
    const map = n();
    cases.push([
      'SharedMap maxEntries',
      () => SharedMap.create(map, { maxEntries: 10 }),
      () => SharedMap.openOrCreate(map, { maxEntries: 20 }),
      /maxEntries 10.*20/,
    ]);
    const list = n();
    cases.push([
      'SharedList maxSize',
      () => SharedList.create(list, { maxSize: 1 << 20 }),
      () => SharedList.openOrCreate(list, { maxSize: 1 << 21 }),
      /maxSize/,
    ]);
    const shm = n();
    cases.push([
      'SharedMemory size',
      () => new SharedMemory({ name: shm, create: true, size: 16 }),
      () => SharedMemory.openOrCreate({ name: shm, size: 4096 }),
      /16 bytes.*4096 bytes/,
    ]);
    const sl = n();
    cases.push(['ShareableList length', () => ShareableList.create(sl, [1, 2]), () => ShareableList.openOrCreate(sl, [1]), /2 items.*1 items/]);
    const kind = n();
    cases.push(['another kind', () => Queue.create(kind, { capacity: 4096 }), () => Value.openOrCreate(kind, 'int32'), /is a shmkit Queue, not a Value/]);
    const lock = n();
    cases.push(['Lock is not an RLock', () => Lock.create(lock), () => RLock.openOrCreate(lock), /is a shmkit Lock, not a RLock/]);
    for (const [what, make, clash, message] of cases) {
      scratch.add(make() as { close(): void; unlink(): void });
      const err = expectCode(clash, 'ERR_SHM_FORMAT');
      expect(err.message, what).toMatch(message);
    }
    // Nothing was replaced or recreated: the first object is still there as it was.
    expect(scratch.add(SharedArray.open(length)).length).toBe(4);
    expect(scratch.add(Barrier.open(barrier)).parties).toBe(2);
  });
});

describe('names: what EEXIST and ENOENT say, and unlink of one kind', () => {
  it('create of an existing name says what to do: open, openOrCreate, `shmkit rm`, unlinkOnExit', () => {
    const name = uniqueName();
    scratch.add(Queue.create(name, { capacity: 4096 }));
    const err = expectCode(() => Queue.create(name), 'EEXIST');
    expect(err.message).toContain(`Queue "${name}"`);
    expect(err.message).toContain(`Queue.open("${name}")`);
    expect(err.message).toContain('Queue.openOrCreate');
    expect(err.message).toContain(`shmkit rm ${name}`);
    expect(err.message).toContain('unlinkOnExit');
    expect(err.errno).toBe(-osConstants.errno.EEXIST);
    expect(err.syscall).toBe('shm_open');
    const raw = expectCode(() => new SharedMemory({ name, create: true, size: 8 }), 'EEXIST');
    expect(raw.message).toContain(`new SharedMemory("${name}")`);
    const sem = uniqueName();
    scratch.add(Semaphore.create(sem, 1));
    expect(expectCode(() => Semaphore.create(sem, 1), 'EEXIST').message).toContain('Semaphore.openOrCreate');
    const list = uniqueName();
    scratch.add(ShareableList.create(list, [1]));
    expect(expectCode(() => ShareableList.create(list, [1]), 'EEXIST').message).toContain(`ShareableList.open("${list}")`);
  });

  it('open of a missing name says it does not exist, and how to make it', () => {
    const name = uniqueName();
    for (const [what, open] of [
      ['Value', () => Value.open(name)],
      ['SharedMap', () => SharedMap.open(name)],
      ['SharedMemory', () => new SharedMemory(name)],
      ['ShareableList', () => ShareableList.open(name)],
      ['Semaphore', () => Semaphore.open(name)],
    ] as const) {
      const err = expectCode(open, 'ENOENT');
      expect(err.message).toContain(`${what} "${name}" does not exist`);
      expect(err.message).toContain(`${what}.create`);
      expect(err.message).toContain(`${what}.openOrCreate`);
      expect(err.errno).toBe(-osConstants.errno.ENOENT);
    }
  });

  it('X.unlink(name) of another kind is ERR_SHM_FORMAT and removes nothing; SharedMemory.unlink removes anything', () => {
    const queue = uniqueName();
    scratch.add(Queue.create(queue, { capacity: 4096 }));
    const raw = uniqueName();
    // Not all zeros: a zero-filled segment reads as an empty ShareableList (as in Python).
    new Uint8Array(scratch.add(new SharedMemory({ name: raw, create: true, size: 64 })).buffer).fill(0xff);
    for (const Kind of [Value, SharedArray, Lock, RLock, Event, Condition, Barrier, BoundedSemaphore, Pipe, SharedMap, SharedList, ShareableList]) {
      const err = expectCode(() => Kind.unlink(queue), 'ERR_SHM_FORMAT');
      expect(err.message).toMatch(/Queue|not a ShareableList/);
      expectCode(() => Kind.unlink(raw), 'ERR_SHM_FORMAT');
    }
    expect(left(queue)).toEqual([queue]);
    expect(left(raw)).toEqual([raw]);
    Queue.unlink(queue);
    SharedMemory.unlink(raw);
    expect([...left(queue), ...left(raw)]).toEqual([]);
    const other = uniqueName();
    scratch.add(Value.create(other, 'int32', 0));
    SharedMemory.unlink(other);
    expect(left(other)).toEqual([]);
  });

  it('ShareableList.unlink removes a ShareableList; a handle whose name another kind took since refuses to remove it', () => {
    const list = uniqueName();
    ShareableList.create(list, [1, 'a']).close();
    ShareableList.unlink(list);
    expect(left(list)).toEqual([]);
    const name = uniqueName();
    const value = scratch.add(Value.create(name, 'int32', 0));
    Value.unlink(name);
    scratch.add(Queue.create(name, { capacity: 4096 }));
    expectCode(() => value.unlink(), 'ERR_SHM_FORMAT');
    expect(left(name)).toEqual([name]);
    expectCode(() => Value.unlink(uniqueName()), 'ENOENT');
  });

  it('a system error has errno negative, as Node fs gives it', () => {
    const err = expectCode(() => Lock.open(uniqueName()), 'ENOENT');
    expect(err.errno).toBe(-osConstants.errno.ENOENT);
    expect(err).toBeInstanceOf(ShmError);
  });
});

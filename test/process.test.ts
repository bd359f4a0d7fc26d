// Process, and shmkit objects that travel: real child processes, real
// objects. Every shmkit class passed as an argument of a Process or a Pool
// call, or returned by a task, must arrive as an open handle of its class on
// the same object; afterEach checks that no child and no pipe is left.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Barrier,
  BoundedSemaphore,
  Condition,
  currentProcess,
  ErrorCodes,
  Event,
  keep,
  Lock,
  Pipe,
  Pool,
  Process,
  type ProcessOptions,
  parentProcess,
  Queue,
  RLock,
  Semaphore,
  ShareableList,
  SharedArray,
  SharedList,
  SharedMap,
  SharedMemory,
  type TaskArgs,
  type TaskName,
  Value,
} from '../dist/index.js';
import { expectCode, fixtures, rejection, root, Scratch, start, startFixture, uniqueName } from './helpers.js';

const TASKS = pathToFileURL(join(fixtures, 'process-tasks.mjs'));
type Tasks = typeof import('./fixtures/process-tasks.mjs');
const scratch = new Scratch();
const started: Process[] = [];
const pools: Pool[] = [];

function child<K extends TaskName<Tasks>>(target: K, options: ProcessOptions<TaskArgs<Tasks, K>> = {}): Process<Tasks, K> {
  const made = new Process<Tasks, K>(TASKS, target, options);
  started.push(made as unknown as Process);
  return made;
}

/** Whether `pid` runs: a zombie (killed, its parent gone, not yet reaped by this container's init) counts as ended. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Live (not zombie) processes started by Process for the parent `parentPid`: its children, the spare among them (counted with ps). */
function childrenOf(parentPid: number): number[] {
  const ps = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return ps
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, stat, ...args]) => !stat?.startsWith('Z') && args.some((arg) => arg.endsWith('process/child.js')) && args.includes(String(parentPid)))
    .map(([pid]) => Number(pid));
}

function leftoverPipes(): string[] {
  return readdirSync('/dev/shm').filter((entry) => entry.startsWith(`shmkit-proc-${process.pid}-`) || entry.startsWith(`shmkit-pool-${process.pid}-`));
}

afterEach(async () => {
  for (const made of started.splice(0)) {
    if (made.isAlive) made.kill();
    if (made.pid !== undefined) await made.join();
  }
  for (const pool of pools.splice(0)) await pool.terminate();
  scratch.cleanup();
  // A spare child removes its pipe's name once it has opened it.
  await until(() => leftoverPipes().length === 0).catch(() => {});
  expect(leftoverPipes()).toEqual([]);
});

/** One object of every class, each in a state the child can check, and the parent holding the locks. */
function everyClass() {
  const shm = scratch.add(new SharedMemory({ name: uniqueName('shm'), create: true, size: 16 }));
  new Uint8Array(shm.buffer)[0] = 7;
  const value = scratch.add(Value.create(uniqueName('val'), 'int32', 41));
  const array = scratch.add(SharedArray.create(uniqueName('arr'), 'int32', 4));
  array.array[0] = 5;
  const list = scratch.add(ShareableList.create(uniqueName('sl'), ['parent', 'x'.repeat(8)]));
  const lock = scratch.add(Lock.create(uniqueName('lock')));
  lock.tryAcquire();
  const rlock = scratch.add(RLock.create(uniqueName('rlock')));
  rlock.tryAcquire();
  const sem = scratch.add(Semaphore.create(uniqueName('sem'), 0));
  const bsem = scratch.add(BoundedSemaphore.create(uniqueName('bsem'), 1));
  bsem.tryAcquire();
  const event = scratch.add(Event.create(uniqueName('ev')));
  const cond = scratch.add(Condition.create(uniqueName('cond')));
  cond.acquireSync();
  const barrier = scratch.add(Barrier.create(uniqueName('bar'), 3));
  const queue = scratch.add(Queue.create(uniqueName('q')));
  const pipe = scratch.add(Pipe.create(uniqueName('pipe')));
  const map = scratch.add(SharedMap.create(uniqueName('map')));
  map.set('from-parent', 'hello');
  const slist = scratch.add(SharedList.create(uniqueName('slist')));
  slist.push('a', 'b');
  const handles = { shm, value, array, list, lock, rlock, sem, bsem, event, cond, barrier, queue, pipe, map, slist };
  return { ...handles, nested: [value, { deep: queue }] as [typeof value, { deep: typeof queue }] };
}

/** Checks what `touch` saw and did: each object arrived as its class, on the same object. */
function checkTouched(h: ReturnType<typeof everyClass>, seen: Awaited<ReturnType<Tasks['touch']>>): void {
  expect(seen.classes).toEqual({
    shm: 'SharedMemory',
    value: 'Value',
    array: 'SharedArray',
    list: 'ShareableList',
    lock: 'Lock',
    rlock: 'RLock',
    sem: 'Semaphore',
    bsem: 'BoundedSemaphore',
    event: 'Event',
    cond: 'Condition',
    barrier: 'Barrier',
    queue: 'Queue',
    pipe: 'Pipe',
    map: 'SharedMap',
    slist: 'SharedList',
  });
  expect(seen).toMatchObject({
    shm: 7,
    value: 41,
    array: 5,
    list: 'parent',
    lockHeld: true,
    rlockHeld: true,
    condHeld: true,
    parties: 3,
    bsemTaken: true,
    nestedSame: true,
    mapValue: 'hello',
    slistLength: 2,
  });
  expect(new Uint8Array(h.shm.buffer)[1]).toBe(8);
  expect(h.value.value).toBe(42);
  expect(h.array.array[1]).toBe(9);
  expect(h.list.get(1)).toBe('child');
  expect(h.sem.tryAcquire()).toBe(true);
  expect(h.bsem.tryAcquire()).toBe(true);
  expect(h.event.isSet()).toBe(true);
  expect(h.queue.getSync({ timeout: 0 })).toBe('from-child');
  expect(h.pipe.recvSync({ timeout: 0 })).toBe('over-the-pipe');
  expect(h.map.get('from-child')).toEqual({ ok: true });
  expect(h.slist.toArray()).toEqual(['a', 'b', 'pushed']);
}

describe('handles that travel', () => {
  it.each([
    ['a child of its own', { env: process.env }],
    ['the spare child', {}],
  ])('every class crosses into a Process (%s), nested in its arguments, as an open handle on the same object', async (_, options) => {
    // A start with the default options leaves a spare child for the next.
    const before = child('echo');
    await before.start();
    await before.join();
    const h = everyClass();
    const proc = child('touch', { args: [h], ...options });
    await proc.start();
    checkTouched(h, await proc.result);
    expect(await proc.join()).toEqual({ exitCode: 0, signal: null });
  });

  it('every class crosses in a Queue message and in a Pipe message, as an open handle on the same object', async () => {
    const h = everyClass();
    const queue = scratch.add(Queue.create<ReturnType<typeof everyClass>>(uniqueName('tq')));
    queue.putSync(h);
    const viaQueue = child('touchFromQueue', { args: [queue] });
    await viaQueue.start();
    checkTouched(h, await viaQueue.result);
    const again = everyClass();
    const pipe = scratch.add(Pipe.create<ReturnType<typeof everyClass>>(uniqueName('tp')));
    pipe.sendSync(again);
    const viaPipe = child('touchFromPipe', { args: [pipe] });
    await viaPipe.start();
    checkTouched(again, await viaPipe.result);
    // A closed handle cannot travel, in a message as in arguments.
    const closed = Value.create(uniqueName('closed'), 'int32', 1);
    closed.close();
    Value.unlink(closed.name);
    expectCode(() => queue.putSync({ closed } as never), 'ERR_SHM_INVALID_ARG');
  });

  it('every class crosses into a Pool task, and back in its result', async () => {
    const h = everyClass();
    const pool = new Pool<Tasks>(TASKS, { processes: 1 });
    pools.push(pool);
    checkTouched(h, await pool.apply('touch', [h]));
    // Not the pipe: it would come back as the other end of the worker's, the parent's own end, open here (ERR_SHM_PIPE_BUSY).
    const { pipe: _pipe, ...rest } = h;
    const [back] = await pool.submit('echo', rest);
    try {
      for (const key of Object.keys(rest) as (keyof typeof rest)[]) {
        if (key === 'nested') continue;
        expect(back[key].constructor, key).toBe(h[key].constructor);
        expect(back[key].name, key).toBe(h[key].name);
        expect(back[key], key).not.toBe(h[key]);
      }
      expect(back.value.value).toBe(42);
      expect(back.nested[0]).toBe(back.value);
    } finally {
      for (const key of Object.keys(back)) if (key !== 'nested') (back as unknown as Record<string, { close(): void }>)[key]?.close();
    }
  }, 30_000);

  it('a Pool map sends handles in its items; a task can create an object and return it open', async () => {
    const value = scratch.add(Value.create(uniqueName('v'), 'int32', 3));
    const pool = new Pool<Tasks>(TASKS, { processes: 2 });
    pools.push(pool);
    const echoed = await pool.map('echo', [value, value, 1]);
    // echo(item) returns [item].
    expect(echoed.map(([item]) => (item instanceof Value ? item.value : `not a Value: ${item}`))).toEqual([3, 3, 'not a Value: 1']);
    for (const [item] of echoed) if (item instanceof Value) item.close();
    const name = uniqueName('made');
    const { made } = await pool.apply('makeValue', [name, 12]);
    scratch.add(made);
    expect(made).toBeInstanceOf(Value);
    expect(made.value).toBe(12);
  });

  it("a task's handles are closed when it ends, unless it keep()s them", async () => {
    const value = scratch.add(Value.create(uniqueName('v'), 'int32', 77));
    const pool = new Pool<Tasks>(TASKS, { processes: 1 });
    pools.push(pool);
    expect(await pool.apply('stash', [value, false])).toBe(false);
    expect(await pool.apply('readStash')).toBe('closed');
    expect(await pool.apply('stash', [value, true])).toBe(false);
    expect(await pool.apply('readStash')).toBe(77);
    expect(() => keep({} as never)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
  });

  it("a handle in initargs stays open for the worker's life", async () => {
    const value = scratch.add(Value.create(uniqueName('v'), 'int32', 5));
    const pool = new Pool<Tasks>(TASKS, { processes: 1, initializer: 'init', initargs: [value] });
    pools.push(pool);
    expect(await pool.apply('readInit')).toBe(5);
    value.value = 6;
    expect(await pool.apply('readInit')).toBe(6);
  });

  it('a closed handle, or the lock of a Value, cannot travel: ERR_SHM_INVALID_ARG naming what to pass', async () => {
    const value = scratch.add(Value.create(uniqueName('v'), 'int32', 1));
    const closed = Value.open(value.name);
    closed.close();
    expect(() => child('echo', { args: [closed] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    const pool = new Pool<Tasks>(TASKS, { processes: 1 });
    pools.push(pool);
    const err = await rejection(pool.apply('echo', [value.lock as never]));
    expect(err.code).toBe(ErrorCodes.INVALID_ARG);
    expect(err.message).toMatch(/pass that object/);
  });

  it('an object whose name is gone when the child opens it fails the start with ERR_SHM_WORKER_START, cause ENOENT', async () => {
    const value = Value.create(uniqueName('v'), 'int32', 1);
    const proc = child('echo', { args: [value] });
    value.unlink();
    value.close();
    const err = await rejection(proc.start());
    expect(err.code).toBe(ErrorCodes.WORKER_START);
    expect((err.cause as { code: string }).code).toBe('ENOENT');
  });
});

describe('Process', () => {
  it('runs its target with its arguments, resolves result, and reports its exit through join', async () => {
    const proc = child('echo', { args: [1, 'two', { three: [3] }] });
    expect(proc.isAlive).toBe(false);
    await proc.start();
    expect(proc.pid).toBeTypeOf('number');
    expect(await proc.result).toEqual([1, 'two', { three: [3] }]);
    expect(await proc.join()).toEqual({ exitCode: 0, signal: null });
    expect(proc.isAlive).toBe(false);
    expect(proc.exitCode).toBe(0);
  });

  it('currentProcess() and parentProcess() name the child and this process', async () => {
    expect(currentProcess()).toEqual({ name: 'MainProcess', pid: process.pid });
    expect(parentProcess()).toBeNull();
    const proc = child('whoAmI', { name: 'reporter' });
    await proc.start();
    const seen = await proc.result;
    expect(seen).toEqual({ current: { name: 'reporter', pid: proc.pid }, parent: { name: 'MainProcess', pid: process.pid } });
    const unnamed = child('whoAmI');
    expect(unnamed.name).toMatch(/^Process-\d+$/);
  });

  it("result rejects with the target's error; join resolves with exit code 1 (never rejects)", async () => {
    const proc = child('fail', { args: ['bad input'] });
    await proc.start();
    const err = (await rejection(proc.result)) as unknown as TypeError & { code: string };
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('bad input');
    expect(err.code).toBe('E_FIXTURE');
    expect(await proc.join()).toEqual({ exitCode: 1, signal: null });
  });

  it('join({ timeout }) resolves null while the child runs; kill() ends it and result rejects with ERR_SHM_WORKER_DIED', async () => {
    const proc = child('sleep', { args: [60_000] });
    await proc.start();
    expect(await proc.join({ timeout: 50 })).toBeNull();
    expect(proc.isAlive).toBe(true);
    proc.kill();
    expect(await proc.join()).toEqual({ exitCode: null, signal: 'SIGKILL' });
    const err = await rejection(proc.result);
    expect(err.code).toBe(ErrorCodes.WORKER_DIED);
    expect(err.message).toMatch(/signal SIGKILL/);
  });

  it('terminate() sends SIGTERM; a target that exits by itself rejects result with its exit code', async () => {
    const proc = child('sleep', { args: [60_000] });
    await proc.start();
    proc.terminate();
    expect(await proc.join()).toEqual({ exitCode: null, signal: 'SIGTERM' });
    const exits = child('exitWith', { args: [3] });
    await exits.start();
    expect(await exits.join()).toEqual({ exitCode: 3, signal: null });
    expect((await rejection(exits.result)).message).toMatch(/exit code 3\) before its target returned/);
  });

  it('options.signal ends the child: result rejects with an AbortError; join takes a signal of its own', async () => {
    const controller = new AbortController();
    const proc = child('sleep', { args: [60_000], signal: controller.signal });
    await proc.start();
    const joinAbort = new AbortController();
    const joined = proc.join({ signal: joinAbort.signal });
    joinAbort.abort();
    expect((await rejection(joined)).name).toBe('AbortError');
    controller.abort();
    expect((await rejection(proc.result)).name).toBe('AbortError');
    expect(await proc.join()).toEqual({ exitCode: null, signal: 'SIGTERM' });
  });

  it('a child has the environment of this process at its start(), or options.env (the spare child takes on the former)', async () => {
    const first = child('env', { args: ['SHMKIT_TEST_ENV'] });
    await first.start();
    expect(await first.result).toBeUndefined();
    await first.join();
    // That start left a spare child, started without the variable.
    process.env.SHMKIT_TEST_ENV = 'set-after';
    try {
      const second = child('env', { args: ['SHMKIT_TEST_ENV'] });
      await second.start();
      expect(await second.result).toBe('set-after');
      const own = child('env', { args: ['SHMKIT_TEST_ENV'], env: { ...process.env, SHMKIT_TEST_ENV: 'given' } });
      await own.start();
      expect(await own.result).toBe('given');
    } finally {
      delete process.env.SHMKIT_TEST_ENV;
    }
  });

  it('a signal aborted before start() rejects start and result with an AbortError; join resolves at once', async () => {
    const proc = child('echo', { signal: AbortSignal.abort() });
    expect((await rejection(proc.start())).name).toBe('AbortError');
    expect((await rejection(proc.result)).code).toBe('ABORT_ERR');
    expect(await proc.join()).toEqual({ exitCode: null, signal: null });
  });

  it('await using ends a child still running', async () => {
    let pid: number | undefined;
    {
      await using proc = new Process<Tasks, 'sleep'>(TASKS, 'sleep', { args: [60_000] });
      await proc.start();
      pid = proc.pid;
    }
    expect(alive(pid as number)).toBe(false);
  });

  it('errors are ShmErrors naming the option', async () => {
    expect(() => new Process(join(fixtures, 'no-such-module.mjs'), 'x')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => child('echo', { args: 'nope' as never })).toThrow(/options\.args must be an array/);
    expect(() => child('echo', { daemon: 'yes' as never })).toThrow(/options\.daemon/);
    expect(() => child('echo', { capacity: 0 })).toThrow(/options\.capacity/);
    expect(() => new Process(TASKS, '' as never)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    const unstarted = child('echo');
    expect((await rejection(unstarted.join())).message).toMatch(/join\(\) before start\(\)/);
    expect(() => unstarted.kill()).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARG }));
    const notFunction = child('notAFunction' as never);
    const err = await rejection(notFunction.start());
    expect(err.code).toBe(ErrorCodes.WORKER_START);
    expect(err.message).toMatch(/no exported function "notAFunction"/);
    expect((await rejection(notFunction.start())).message).toMatch(/start\(\) was called already/);
    const large = child('echo', { args: ['x'.repeat(5000)], capacity: 1024 });
    const tooLarge = await rejection(large.start());
    expect(tooLarge.code).toBe(ErrorCodes.MESSAGE_TOO_LARGE);
    expect(tooLarge.message).toMatch(/options\.capacity/);
  });

  it('daemon children (its own, and the spare it took) die with their parent when the parent is SIGKILLed', async () => {
    const queue = scratch.add(Queue.create(uniqueName('q')));
    const parent = startFixture('process-parent.mjs', [queue.name]);
    const daemons = (await parent.line()).split(' ').map(Number);
    expect((await Promise.all([queue.get({ timeout: 20_000 }), queue.get({ timeout: 20_000 })])).sort()).toEqual([...daemons].sort());
    const parentPid = parent.child.pid as number;
    // Its two daemons, and the spare child the second start left.
    await until(() => childrenOf(parentPid).length === 3);
    expect(childrenOf(parentPid)).toEqual(expect.arrayContaining(daemons));
    parent.child.kill('SIGKILL');
    await parent.done;
    await until(() => childrenOf(parentPid).length === 0);
    for (const pid of daemons) expect(alive(pid)).toBe(false);
  });

  it('daemon children do not keep their parent alive, and die when it exits', async () => {
    const queue = scratch.add(Queue.create(uniqueName('q')));
    const parent = startFixture('process-parent.mjs', [queue.name, 'exit']);
    const daemons = (await parent.line()).split(' ').map(Number);
    const result = await parent.done;
    expect(result.code).toBe(0);
    await until(() => childrenOf(parent.child.pid as number).length === 0);
    for (const pid of daemons) expect(alive(pid)).toBe(false);
  });
});

describe('Process examples', () => {
  it.each([
    ['producer-consumer.mjs', /^consumer got 1000 items from the producer, sum 500500$/m],
    ['counter.mjs', /^counter = 20000 \(2 processes x 10000 increments under its lock\)$/m],
    ['pool-queue.mjs', /^4 reports on the queue, squares sum to 30$/m],
  ])('examples/%s runs', async (script, expected) => {
    const run = await start(process.execPath, [join(root, 'examples', script)]).done;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(expected);
  });
});

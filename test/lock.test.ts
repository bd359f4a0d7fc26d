import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Lock, notify, RLock, Array as SharedArray, SharedMemory, Value, wait, waitAsync } from '../dist/index.js';
import { expectCode, root, runFixture, Scratch, startFixture, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

describe('Lock', () => {
  it('acquires, excludes other handles, and releases', async () => {
    const name = uniqueName('lk');
    const a = scratch.add(Lock.create(name));
    const b = Lock.open(name);
    try {
      expect(a.tryAcquire()).toBe(true);
      expect(a.locked() && b.locked()).toBe(true);
      expect(b.tryAcquire()).toBe(false);
      expect(b.acquireSync({ timeout: 30 })).toBe(false);
      expect(await b.acquire({ timeout: 30 })).toBe(false);
      expectCode(() => b.release(), 'ERR_SHM_NOT_OWNER');
      expectCode(() => a.acquireSync(), 'ERR_SHM_WOULD_DEADLOCK');
      a.release();
      expect(a.locked()).toBe(false);
      expect(await b.acquire()).toBe(true);
      expect(b.ownerDied).toBe(false);
      b.release();
      expectCode(() => b.release(), 'ERR_SHM_NOT_OWNER');
    } finally {
      b.close();
    }
  });

  it('eight handles in one process exclude each other like processes: exactly one wins', () => {
    const name = uniqueName('lk8');
    const locks = [scratch.add(Lock.create(name)), ...Array.from({ length: 7 }, () => Lock.open(name))];
    try {
      expect(locks.map((l) => l.tryAcquire()).filter(Boolean)).toHaveLength(1);
    } finally {
      for (const l of locks.slice(1)) l.close();
    }
  });

  it('async acquire waits for a release in the same process (a second task of one handle queues)', async () => {
    const lock = scratch.add(Lock.create(uniqueName('lkq')));
    await lock.acquire();
    const order: string[] = [];
    const second = lock.withLock(() => order.push('second'));
    setTimeout(() => {
      order.push('first releases');
      lock.release();
    }, 30);
    await second;
    expect(order).toEqual(['first releases', 'second']);
  });

  it('withLock, withLockSync and hold() release even when the body throws; hold() times out with ERR_SHM_TIMEOUT', async () => {
    const name = uniqueName('lkw');
    const lock = scratch.add(Lock.create(name));
    expect(await lock.withLock(async () => 7)).toBe(7);
    await expect(lock.withLock(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(lock.locked()).toBe(false);
    expect(() =>
      lock.withLockSync(() => {
        throw new Error('bang');
      }),
    ).toThrow('bang');
    expect(lock.locked()).toBe(false);
    {
      using _guard = await lock.hold();
      expect(lock.heldByMe()).toBe(true);
      const other = Lock.open(name);
      await expect(other.hold({ timeout: 20 })).rejects.toMatchObject({ code: 'ERR_SHM_TIMEOUT' });
      other.close();
    }
    expect(lock.locked()).toBe(false);
  });

  it('an AbortSignal cancels a pending acquire with an AbortError; a timeout returns false', async () => {
    const name = uniqueName('lka');
    const holder = scratch.add(Lock.create(name));
    const waiter = Lock.open(name);
    try {
      holder.acquireSync();
      const controller = new AbortController();
      const pending = waiter.acquire({ signal: controller.signal });
      setTimeout(() => controller.abort(), 30);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
      await expect(waiter.acquire({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
      const t0 = performance.now();
      expect(await waiter.acquire({ timeout: 120 })).toBe(false);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
      holder.release();
      expect(waiter.tryAcquire()).toBe(true); // the aborted acquire took nothing
      waiter.release();
    } finally {
      waiter.close();
    }
  });

  it('async acquire keeps the event loop running, and 8 pending acquires do not stall fs.readFile', async () => {
    const name = uniqueName('lke');
    const holder = scratch.add(Lock.create(name));
    holder.acquireSync();
    const waiters = Array.from({ length: 8 }, () => Lock.open(name));
    try {
      const pending = waiters.map((w) => w.acquire({ timeout: 2000 }));
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      // Both finish only if the waits hold neither the event loop nor libuv's threadpool.
      await readFile(join(root, 'package.json'));
      await new Promise((resolve) => setTimeout(resolve, 200));
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(0);
      holder.release();
      // Each waiter in turn: the first gets it, releases, the next one follows.
      for (let i = 0; i < waiters.length; i++) {
        const winner = await Promise.race(pending.map((p, j) => p.then(() => j)));
        expect(waiters[winner].heldByMe()).toBe(true);
        waiters[winner].release();
        pending[winner] = new Promise(() => {});
      }
    } finally {
      for (const w of waiters) w.close();
    }
  });

  it('closing a handle that holds the lock reads as its owner dying', async () => {
    const name = uniqueName('lkc');
    const holder = scratch.add(Lock.create(name));
    const waiter = Lock.open(name);
    try {
      holder.acquireSync();
      const pending = waiter.acquire({ timeout: 2000 });
      setTimeout(() => holder.close(), 20);
      expect(await pending).toBe(true);
      expect(waiter.ownerDied).toBe(true);
      waiter.release();
      expect(waiter.ownerDied).toBe(false);
    } finally {
      waiter.close();
    }
  });

  it('a handle garbage-collected while holding the lock keeps it held; handles collected holding nothing give their tokens back', async () => {
    const run = await runFixture('gc-drop.mjs', [uniqueName('lkgc'), 'same-process'], { nodeArgs: ['--expose-gc'] });
    expect(run.stderr).toBe('');
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ stillHeld: true, ownerDied: false });
    // 50 handles took a descriptor each; V8 may keep the last few it made reachable a while longer.
    expect(result.fdsTaken).toBe(50);
    expect(result.fdsGiven).toBeGreaterThanOrEqual(40);
  });

  it('a Queue consumer collected while it holds a view keeps it: the message is not delivered again', async () => {
    const run = await runFixture('gc-drop.mjs', [uniqueName('qgc'), 'queue-view'], { nodeArgs: ['--expose-gc'] });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual(['next', 'ERR_SHM_QUEUE_EMPTY']);
  });

  it('a "single instance" lock kept in nothing stays held while its process lives, and is taken over once it dies', async () => {
    const name = uniqueName('lkone');
    const holder = startFixture('gc-drop.mjs', [name, 'single-instance'], { nodeArgs: ['--expose-gc'] });
    try {
      await holder.line((line) => line === 'holding');
      const second = scratch.add(Lock.open(name));
      expect(second.tryAcquire()).toBe(false);
      expect(await second.acquire({ timeout: 300 })).toBe(false);
      holder.child.kill('SIGKILL');
      await holder.done;
      expect(await second.acquire({ timeout: 5000 })).toBe(true);
      expect(second.ownerDied).toBe(true);
      second.release();
    } finally {
      holder.child.kill('SIGKILL');
      Lock.unlink(name);
    }
  });

  it('a worker thread terminated while holding the lock does not keep it held', async () => {
    const name = uniqueName('lkwk');
    const lock = scratch.add(Lock.create(name));
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.url).then(({ Lock }) => {
         const lock = Lock.open(workerData.name);
         lock.acquireSync();
         parentPort.postMessage('held');
         lock.acquire(); // a second, pending async acquire while terminated
       });`,
      { eval: true, workerData: { name, url: pathToFileURL(join(root, 'dist', 'index.js')).href } },
    );
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(lock.tryAcquire()).toBe(false);
    await worker.terminate();
    expect(await lock.acquire({ timeout: 2000 })).toBe(true);
    expect(lock.ownerDied).toBe(true);
    lock.release();
  });

  it('opening a Lock as an RLock (or the other way) is ERR_SHM_FORMAT; bad options are typed errors', async () => {
    const name = uniqueName('lkf');
    scratch.add(Lock.create(name));
    expectCode(() => RLock.open(name), 'ERR_SHM_FORMAT');
    const lock = Lock.open(name);
    expectCode(() => lock.acquireSync({ timeout: -1 }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => lock.acquireSync(5 as never), 'ERR_SHM_INVALID_ARG');
    await expect(lock.acquire({ signal: {} as never })).rejects.toMatchObject({ code: 'ERR_SHM_INVALID_ARG' });
    lock.close();
    expectCode(() => lock.tryAcquire(), 'ERR_SHM_CLOSED');
    expectCode(() => Lock.create('bad name'), 'ERR_SHM_INVALID_NAME');
  });
});

describe('RLock', () => {
  it('re-enters for its holder and frees at depth zero', () => {
    const name = uniqueName('rl');
    const a = scratch.add(RLock.create(name));
    const b = RLock.open(name);
    try {
      expect(a.acquireSync()).toBe(true);
      expect(a.acquireSync()).toBe(true);
      expect(a.tryAcquire()).toBe(true);
      a.release();
      a.release();
      expect(b.tryAcquire()).toBe(false);
      a.release();
      expect(b.tryAcquire()).toBe(true);
      expectCode(() => a.release(), 'ERR_SHM_NOT_OWNER');
      b.release();
    } finally {
      b.close();
    }
  });
});

describe('wait / notify', () => {
  it('wakes across handles, reports not-equal and timed-out, and validates its arguments', async () => {
    const name = uniqueName('wn');
    const shm = scratch.add(new SharedMemory({ name, create: true, size: 64 }));
    const word = new Int32Array(shm.buffer);
    const other = new SharedMemory(name);
    const view = new Int32Array(other.buffer);
    try {
      expect(wait(word, 1, 5, 10)).toBe('not-equal');
      expect(wait(word, 1, 0, 10)).toBe('timed-out');
      const pending = waitAsync(word, 1, 0, { timeout: 5000 });
      setTimeout(() => {
        Atomics.store(view, 1, 1);
        notify(view, 1);
      }, 20);
      expect(await pending).toBe('ok');
      expect(await waitAsync(word, 2, 0, 20)).toBe('timed-out');
      const controller = new AbortController();
      const aborted = waitAsync(word, 2, 0, { signal: controller.signal });
      controller.abort();
      await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
      expectCode(() => wait(new Float64Array(4) as never, 0, 0), 'ERR_SHM_INVALID_ARG');
      expectCode(() => wait(word, 16, 0), 'ERR_SHM_INVALID_ARG');
      expectCode(() => wait(word, 0, 2 ** 31), 'ERR_SHM_INVALID_ARG');
      expectCode(() => notify(word, 0, -1), 'ERR_SHM_INVALID_ARG');
      other.close();
      expectCode(() => wait(view, 0, 0, 10), 'ERR_SHM_CLOSED');
    } finally {
      other.close();
    }
  });
});

describe('Lock across unrelated processes', () => {
  async function count(how: 'locked' | 'unlocked', processes: number, n: number): Promise<bigint> {
    const [lockName, counterName, ctlName] = [uniqueName('lk'), uniqueName('cnt'), uniqueName('ctl')];
    const lock = Lock.create(lockName);
    const counter = Value.create(counterName, 'int64', 0n);
    const ctl = SharedArray.create(ctlName, 'int32', 1);
    try {
      const runs = await Promise.all(
        Array.from({ length: processes }, () => runFixture('sync-peer.mjs', ['count', lockName, counterName, ctlName, String(processes), String(n), how])),
      );
      for (const run of runs) expect(run.stdout.trim(), run.stderr).toBe('done');
      return counter.value;
    } finally {
      for (const o of [lock, counter, ctl]) {
        o.close();
        o.unlink();
      }
    }
  }

  it('4 processes x 50,000 lock/increment/unlock: the total is exact', async () => {
    expect(await count('locked', 4, 50_000)).toBe(200_000n);
  });

  it('the same without the lock loses updates (so the test above can fail)', async () => {
    let total = 200_000n;
    for (let attempt = 0; attempt < 3 && total === 200_000n; attempt++) total = await count('unlocked', 4, 50_000);
    expect(total).toBeLessThan(200_000n);
  });

  it('no false "owner died" while the holder lives: waiters time out for 3 s, then get it cleanly', async () => {
    const name = uniqueName('alive');
    const lock = Lock.create(name);
    const holder = startFixture('sync-peer.mjs', ['hold-for', name, '3000']);
    try {
      await holder.line((l) => l === 'held');
      const t0 = performance.now();
      let timeouts = 0;
      // Stop well before the holder releases at 3 s (its clock started before ours).
      while (performance.now() - t0 < 2400) {
        expect(await lock.acquire({ timeout: 250 })).toBe(false);
        expect(lock.tryAcquire()).toBe(false);
        timeouts++;
      }
      expect(timeouts).toBeGreaterThanOrEqual(8);
      expect(await lock.acquire({ timeout: 5000 })).toBe(true);
      expect(lock.ownerDied).toBe(false);
      lock.release();
      await holder.line((l) => l === 'released');
    } finally {
      holder.child.kill('SIGKILL');
      await holder.done;
      lock.close();
      lock.unlink();
    }
  });

  it('process.exit() with an async acquire pending exits (no hang)', async () => {
    const name = uniqueName('exit');
    const lock = Lock.create(name);
    lock.acquireSync();
    try {
      const child = startFixture('sync-peer.mjs', ['exit-pending', name]);
      await child.line((l) => l === 'pending');
      const run = await child.done;
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('exiting');
      expect(run.stdout).not.toContain('acquired');
    } finally {
      lock.release();
      lock.close();
      lock.unlink();
    }
  });
});

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Barrier, Condition, Event, Lock, Semaphore, Array as SharedArray, Value } from '../dist/index.js';
import { fixtures, runFixture, start, startFixture, uniqueName } from './helpers.js';

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

  it('process.exit() with an async acquire pending exits within 1 s', async () => {
    const name = uniqueName('exit');
    const lock = Lock.create(name);
    lock.acquireSync();
    try {
      const child = startFixture('sync-peer.mjs', ['exit-pending', name]);
      await child.line((l) => l === 'pending');
      const t0 = performance.now();
      const run = await child.done;
      expect(performance.now() - t0).toBeLessThan(1000);
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

describe('Semaphore', () => {
  it.runIf(process.platform === 'linux')('is a POSIX named semaphore (/dev/shm/sem.<name>) shared by processes', async () => {
    const name = uniqueName('sem');
    const sem = Semaphore.create(name, 1);
    try {
      expect(existsSync(`/dev/shm/sem.${name}`)).toBe(true);
      expect(sem.value).toBe(1);
      expect(await sem.acquire()).toBe(true);
      const runs = Promise.all([0, 1].map(() => runFixture('sync-peer.mjs', ['sem-cycle', name, '200'])));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(sem.value).toBe(0); // they are blocked on us
      sem.release();
      for (const run of await runs) expect(run.stdout.trim(), run.stderr).toBe('done');
      expect(sem.value).toBe(1);
    } finally {
      sem.close();
      sem.unlink();
    }
    expect(existsSync(`/dev/shm/sem.${name}`)).toBe(false);
  });

  it.runIf(process.platform === 'linux')('is the semaphore a C program opens with sem_open (Python ctypes on libc)', async () => {
    const name = uniqueName('csem');
    const sem = Semaphore.create(name, 0);
    try {
      const pending = sem.acquire({ timeout: 5000 });
      const run = await start('python3', [join(fixtures, 'py_sem.py'), name, '3']).done;
      expect(run.stderr).toBe('');
      expect(await pending).toBe(true); // one of the three posts woke us
      expect(Number(run.stdout.trim())).toBeGreaterThanOrEqual(2);
      expect(sem.value).toBe(2);
    } finally {
      sem.close();
      sem.unlink();
    }
  });
});

describe('Event, Barrier, Condition across processes', () => {
  it('Event: set() in one process wakes waiters in two others', async () => {
    const name = uniqueName('ev');
    const event = Event.create(name);
    try {
      const waiters = [0, 1].map(() => startFixture('sync-peer.mjs', ['event-wait', name]));
      for (const w of waiters) await w.line((l) => l === 'waiting');
      await new Promise((resolve) => setTimeout(resolve, 50));
      event.set();
      for (const w of waiters) expect((await w.done).stdout).toContain('woke');
    } finally {
      event.close();
      event.unlink();
    }
  });

  it('Barrier: 3 processes pass together with distinct arrival indexes', async () => {
    const name = uniqueName('bar');
    const barrier = Barrier.create(name, 3);
    try {
      const runs = await Promise.all([0, 1, 2].map(() => runFixture('sync-peer.mjs', ['barrier', name])));
      expect(runs.map((r) => Number(r.stdout.trim())).sort()).toEqual([0, 1, 2]);
      expect(barrier.nWaiting).toBe(0);
    } finally {
      barrier.close();
      barrier.unlink();
    }
  });

  it('Condition: a producer process and a consumer process hand over 500 items', async () => {
    const [condName, itemsName] = [uniqueName('cv'), uniqueName('items')];
    const cond = Condition.create(condName);
    const items = SharedArray.create(itemsName, 'int32', 501);
    try {
      const consumer = runFixture('sync-peer.mjs', ['consume', condName, itemsName, '500']);
      const producer = runFixture('sync-peer.mjs', ['produce', condName, itemsName, '500']);
      const [c, p] = await Promise.all([consumer, producer]);
      expect(p.stdout.trim(), p.stderr).toBe('produced');
      expect(c.stdout.trim(), c.stderr).toBe(`sum ${(500 * 501) / 2}`);
    } finally {
      for (const o of [cond, items]) {
        o.close();
        o.unlink();
      }
    }
  });
});

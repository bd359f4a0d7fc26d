import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BoundedSemaphore, Event, Semaphore, Array as SharedArray } from '../dist/index.js';
import { expectCode, fixtures, rejection, runFixture, Scratch, start, startFixture, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

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

describe('Semaphore in one process', () => {
  it('takes and gives units, times out, and validates its arguments', async () => {
    const name = uniqueName('sm');
    const sem = scratch.add(Semaphore.create(name, 2));
    const other = scratch.add(Semaphore.open(name));
    expect(sem.tryAcquire()).toBe(true);
    expect(other.acquireSync({ timeout: 10 })).toBe(true);
    expect(sem.tryAcquire()).toBe(false);
    expect(await other.acquire({ timeout: 10 })).toBe(false);
    expect(sem.acquireSync({ timeout: 0 })).toBe(false);
    sem.release(2);
    expect(other.tryAcquire() && other.tryAcquire()).toBe(true);
    expectCode(() => sem.release(0), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Semaphore.create(name, 1), 'EEXIST');
    expectCode(() => Semaphore.open(uniqueName('none')), 'ENOENT');
    expectCode(() => Semaphore.create(uniqueName('neg'), -1), 'ERR_SHM_INVALID_ARG');
    sem.close();
    expectCode(() => sem.tryAcquire(), 'ERR_SHM_CLOSED');
  });
});

describe('Semaphore.release past the maximum', () => {
  const MAX = 2 ** 31 - 1; // SEM_VALUE_MAX on Linux

  it.runIf(process.platform === 'linux')('releases nothing and throws EOVERFLOW', () => {
    const name = uniqueName('ovf');
    const sem = scratch.add(Semaphore.create(name, MAX - 2));
    const err = expectCode(() => sem.release(5), 'EOVERFLOW');
    expect(err.message).toContain('none were released');
    expect(sem.value).toBe(MAX - 2);
    sem.release(2);
    expect(sem.value).toBe(MAX);
  });

  it.runIf(process.platform === 'linux')('fails before posting anything: another process never sees the value change', async () => {
    const name = uniqueName('ovfw');
    const ctlName = uniqueName('ovfc');
    const start = 2 ** 30;
    const sem = scratch.add(Semaphore.create(name, start));
    const ctl = scratch.add(SharedArray.create(ctlName, 'int32', 2)).array;
    const watcher = startFixture('sem-peer.mjs', ['watch', name, ctlName]);
    await watcher.line((line) => line === 'watching');
    // Posting unit by unit, this release would pass 2^30 values before EOVERFLOW.
    expectCode(() => sem.release(MAX), 'EOVERFLOW');
    expect(sem.value).toBe(start);
    // Let the watcher look a while longer before it reports.
    const seen = Atomics.load(ctl, 1);
    while (Atomics.load(ctl, 1) < seen + 10_000) await new Promise((resolve) => setTimeout(resolve, 1));
    Atomics.store(ctl, 0, 1);
    const result = await watcher.done;
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout.split('\n')[1] as string)).toMatchObject({ min: start, max: start });
  });

  it.runIf(process.platform === 'linux')('releasers racing past the maximum leave no extra unit', async () => {
    const name = uniqueName('ovfr');
    const ctlName = uniqueName('ovfrc');
    // Room for one release, not two: of two at once, one must fail, at its
    // check or (checked while the other was still posting) at EOVERFLOW part way.
    const units = 20_000;
    const sem = scratch.add(Semaphore.create(name, MAX - 1.5 * units));
    scratch.add(SharedArray.create(ctlName, 'int32', 2));
    const runs = await Promise.all([0, 1].map(() => runFixture('sem-peer.mjs', ['race', name, ctlName, '2', '300', String(units)])));
    let refused = 0;
    for (const run of runs) {
      expect(run.stderr).toBe('');
      refused += (JSON.parse(run.stdout) as { refused: number }).refused;
    }
    expect(refused).toBeGreaterThan(0);
    expect(sem.value).toBe(MAX - 1.5 * units);
  });
});

describe('BoundedSemaphore', () => {
  it('refuses a release past its bound (nothing is released); the bound comes with open()', async () => {
    const name = uniqueName('bs');
    const sem = scratch.add(BoundedSemaphore.create(name, 2));
    const other = scratch.add(BoundedSemaphore.open(name));
    expect([sem.bound, other.bound, other.value]).toEqual([2, 2, 2]);
    expectCode(() => sem.release(), 'ERR_SHM_SEMAPHORE_BOUND');
    expect(await other.acquire()).toBe(true);
    expect(sem.value).toBe(1);
    sem.release();
    expectCode(() => other.release(), 'ERR_SHM_SEMAPHORE_BOUND');
    expect(sem.tryAcquire() && sem.tryAcquire()).toBe(true);
    expect(sem.tryAcquire()).toBe(false);
    expectCode(() => sem.release(3), 'ERR_SHM_SEMAPHORE_BOUND');
    expect(sem.value).toBe(0);
    sem.release(2);
    expect(other.value).toBe(2);
  });

  it('waits: sync and async acquires time out, wake on release, and end on abort and close', async () => {
    const name = uniqueName('bs');
    const sem = scratch.add(BoundedSemaphore.create(name, 1));
    const other = scratch.add(BoundedSemaphore.open(name));
    expect(sem.acquireSync()).toBe(true);
    expect(other.acquireSync({ timeout: 20 })).toBe(false);
    expect(await other.acquire({ timeout: 20 })).toBe(false);
    const waiters = [other.acquire(), other.acquire()];
    setTimeout(() => sem.release(), 20);
    expect(await Promise.race(waiters)).toBe(true);
    expect(sem.value).toBe(0);
    const controller = new AbortController();
    const aborted = rejection(other.acquire({ signal: controller.signal }));
    controller.abort();
    expect((await aborted).name).toBe('AbortError');
    other.close();
    expect((await rejection(Promise.all(waiters))).code).toBe('ERR_SHM_CLOSED');
    sem.release();
    expect(sem.value).toBe(1);
  });

  it('is a shmkit object, refused by the other kinds and by Semaphore.open', () => {
    const name = uniqueName('bs');
    scratch.add(BoundedSemaphore.create(name, 3));
    expectCode(() => Event.open(name), 'ERR_SHM_FORMAT');
    expectCode(() => Semaphore.open(name), 'ENOENT');
    expectCode(() => BoundedSemaphore.open(name, 3 as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => BoundedSemaphore.create(name, 1), 'EEXIST');
    expectCode(() => BoundedSemaphore.create(uniqueName('bs'), -1), 'ERR_SHM_INVALID_ARG');
  });

  it('keeps its bound exactly while processes race to release it', async () => {
    const [name, ctlName] = [uniqueName('bs'), uniqueName('ctl')];
    const sem = scratch.add(BoundedSemaphore.create(name, 1));
    scratch.add(SharedArray.create(ctlName, 'int32', 1));
    expect(sem.tryAcquire()).toBe(true); // value 0: one release fits, a second would pass the bound
    const parties = 3;
    const runs = await Promise.all(
      Array.from({ length: parties }, () => runFixture('sync-peer.mjs', ['bounded-race', name, ctlName, String(parties), '20000'])),
    );
    let released = 0;
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout);
      expect(result.highest).toBe(1);
      released += result.released;
    }
    expect(released).toBeGreaterThan(0);
    expect(sem.value).toBe(0);
  });
});

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BoundedSemaphore, Semaphore } from '../dist/index.js';
import { expectCode, fixtures, runFixture, Scratch, start, uniqueName } from './helpers.js';

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
  it.runIf(process.platform === 'linux')('releases nothing and throws EOVERFLOW', () => {
    const name = uniqueName('ovf');
    const sem = scratch.add(Semaphore.create(name, 2 ** 31 - 3));
    expectCode(() => sem.release(5), 'EOVERFLOW');
    expect(sem.value).toBe(2 ** 31 - 3);
    sem.release(2);
    expect(sem.value).toBe(2 ** 31 - 1);
  });
});

describe('BoundedSemaphore', () => {
  it('refuses a release past its bound (nothing is released) and works like a Semaphore below it', async () => {
    const name = uniqueName('bs');
    const sem = scratch.add(BoundedSemaphore.create(name, 2));
    const other = scratch.add(BoundedSemaphore.open(name, 2));
    expect(sem.bound).toBe(2);
    expectCode(() => sem.release(), 'ERR_SHM_SEMAPHORE_BOUND');
    expect(await other.acquire()).toBe(true);
    sem.release();
    expectCode(() => other.release(), 'ERR_SHM_SEMAPHORE_BOUND');
    expect(sem.tryAcquire() && sem.tryAcquire()).toBe(true);
    expectCode(() => sem.release(3), 'ERR_SHM_SEMAPHORE_BOUND');
    sem.release(2);
    expectCode(() => BoundedSemaphore.open(name), 'ERR_SHM_INVALID_ARG');
  });
});

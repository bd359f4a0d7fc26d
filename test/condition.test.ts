import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Condition, Array as SharedArray } from '../dist/index.js';
import { expectCode, runFixture, Scratch, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** `n` handles of one Condition, each waiting once; resolves to how many were notified. */
function waiters(name: string, n: number) {
  const handles = Array.from({ length: n }, () => scratch.add(Condition.open(name)));
  let woken = 0;
  const done = handles.map(async (c) => {
    await c.acquire();
    try {
      if (await c.wait({ timeout: 2000 })) woken++;
    } finally {
      c.release();
    }
  });
  return { woken: () => woken, done: Promise.all(done) };
}

describe('Condition', () => {
  it("a notify(1) in the same tick as another waiter's abort still wakes the waiter that stays (100 rounds)", async () => {
    const name = uniqueName('cva');
    const notifier = scratch.add(Condition.create(name));
    const [quitter, stayer] = [scratch.add(Condition.open(name)), scratch.add(Condition.open(name))];
    for (let round = 0; round < 100; round++) {
      const controller = new AbortController();
      const waitOf = async (c: Condition, signal?: AbortSignal) => {
        await c.acquire();
        try {
          return await c.wait({ signal });
        } finally {
          c.release();
        }
      };
      const aborted = waitOf(quitter, controller.signal).then(
        () => 'notified',
        (err: Error) => err.name,
      );
      const stays = waitOf(stayer);
      await sleep(1);
      notifier.withLockSync(() => notifier.notify(1));
      controller.abort();
      expect(await aborted).toBe('AbortError');
      const outcome = await Promise.race([stays, sleep(2000).then(() => 'never woken')]);
      expect(outcome, `round ${round}`).toBe(true);
    }
  });

  it('notify(1) ends exactly one of several waits in one process; notifyAll the rest', async () => {
    const name = uniqueName('cv');
    const owner = scratch.add(Condition.create(name));
    const group = waiters(name, 5);
    await sleep(30);
    owner.withLockSync(() => owner.notify(1));
    await sleep(50);
    expect(group.woken()).toBe(1);
    owner.withLockSync(() => owner.notify(2));
    await sleep(50);
    expect(group.woken()).toBe(3);
    owner.withLockSync(() => owner.notifyAll());
    await group.done;
    expect(group.woken()).toBe(5);
  });

  it('a notify with no waiter is not saved for a later wait', async () => {
    const name = uniqueName('cvn');
    const c = scratch.add(Condition.create(name));
    c.withLockSync(() => c.notify());
    await c.acquire();
    expect(await c.wait({ timeout: 20 })).toBe(false);
    c.release();
  });

  it('a timed-out waiter takes the lock back and is counted out (a later notify(1) still wakes a live waiter)', async () => {
    const name = uniqueName('cvt');
    const owner = scratch.add(Condition.create(name));
    await owner.acquire();
    expect(await owner.wait({ timeout: 10 })).toBe(false);
    expect(owner.lock.heldByMe()).toBe(true);
    owner.release();
    const group = waiters(name, 1);
    await sleep(20);
    owner.withLockSync(() => owner.notify(1));
    await group.done;
    expect(group.woken()).toBe(1);
  });

  it('waitFor returns the predicate once true; wait and notify need the lock', async () => {
    const name = uniqueName('cvf');
    const c = scratch.add(Condition.create(name));
    const other = scratch.add(Condition.open(name));
    let ready = false;
    setTimeout(() => {
      other.withLockSync(() => {
        ready = true;
        other.notifyAll();
      });
    }, 20);
    expect(await c.withLock(() => c.waitFor(() => ready, { timeout: 2000 }))).toBe(true);
    await expect(c.wait()).rejects.toMatchObject({ code: 'ERR_SHM_NOT_OWNER' });
    expectCode(() => c.notify(), 'ERR_SHM_NOT_OWNER');
  });
});

describe('Condition across processes', () => {
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

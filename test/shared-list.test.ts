// SharedList: Python's Manager().list() with no server, on SharedMap's
// storage: the API, two processes pushing at once, and pushers and poppers
// SIGKILLed at random instants (no hole, no torn item, length exact).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { SharedList } from '../dist/index.js';
import { valueAt } from './fixtures/map-ops.mjs';
import { expectCode, runFixture, Scratch, startFixture, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

describe('SharedList', () => {
  it('push, pop, get, set, at, update, length, iteration and clear, through any handle', () => {
    const list = scratch.add(SharedList.create<unknown>(uniqueName('list')));
    const other = scratch.add(SharedList.open<unknown>(list.name));
    expect(list.length).toBe(0);
    expect(list.pop()).toBeUndefined();
    expect(list.push('a', 2, { three: [3] })).toBe(3);
    list.append(null);
    expect(other.length).toBe(4);
    expect([other.get(0), other.get(1), other.get(-2), other.at(-1), other.get(4), other.get(-5)]).toEqual([
      'a',
      2,
      { three: [3] },
      null,
      undefined,
      undefined,
    ]);
    other.set(-1, 'last');
    expect(list.update(1, (n) => (n as number) * 10)).toBe(20);
    expect(list.toArray()).toEqual(['a', 20, { three: [3] }, 'last']);
    expect(list.pop()).toBe('last');
    expect([...other]).toEqual(['a', 20, { three: [3] }]);
    const seen: [unknown, number][] = [];
    other.forEach((value, i) => {
      seen.push([value, i]);
    });
    expect(seen).toEqual([
      ['a', 0],
      [20, 1],
      [{ three: [3] }, 2],
    ]);
    list.clear();
    expect(other.length).toBe(0);
  });

  it('refuses indexes past either end, bad indexes, a writing callback, and cache options', () => {
    const list = scratch.add(SharedList.create<number>(uniqueName('lbad')));
    list.push(1);
    expectCode(() => list.set(1, 2), 'ERR_SHM_INVALID_ARG');
    expectCode(() => list.set(-2, 2), 'ERR_SHM_INVALID_ARG');
    expectCode(() => list.get(1.5), 'ERR_SHM_INVALID_ARG');
    expectCode(() => list.update(0, () => list.push(2)), 'ERR_SHM_WOULD_DEADLOCK');
    expect(list.toArray()).toEqual([1]);
    expectCode(() => SharedList.create(uniqueName('lbad'), { maxEntries: 3 } as never), 'ERR_SHM_INVALID_ARG');
    list.close();
    expectCode(() => list.length, 'ERR_SHM_CLOSED');
  });
});

describe('SharedList across processes', () => {
  it('two processes push 5,000 items each at once: every item once, the length exact', async () => {
    const list = scratch.add(SharedList.create<string>(uniqueName('lpush'), { size: 64 * 1024 }));
    const runs = await Promise.all(['a', 'b'].map((prefix) => runFixture('map-peer.mjs', ['push', list.name, prefix, '5000'])));
    for (const run of runs) expect(run.stdout.trim(), run.stderr).toBe('pushed');
    expect(list.length).toBe(10000);
    const items = list.toArray();
    expect(new Set(items).size).toBe(10000);
    for (const prefix of ['a', 'b']) {
      const mine = items.filter((item) => item.startsWith(prefix)).map((item) => Number(item.slice(1)));
      expect(mine).toEqual([...mine].sort((x, y) => x - y)); // each process's pushes in its order
      expect(mine.length).toBe(5000);
    }
  });

  it('pushers and poppers SIGKILLed at random instants: no hole, no torn item, and it goes on working', async () => {
    const list = scratch.add(SharedList.create(uniqueName('lkill'), { size: 64 * 1024 }));
    const running = [0, 1].map(() => startFixture('map-peer.mjs', ['churn-list', list.name]));
    try {
      for (let kill = 0; kill < 30; kill++) {
        const w = kill % 2;
        await running[w].line((l) => l === 'churning');
        await sleep(Math.random() * 5);
        running[w].child.kill('SIGKILL');
        await running[w].done;
        running[w] = startFixture('map-peer.mjs', ['churn-list', list.name]);
      }
    } finally {
      for (const r of running) r.child.kill('SIGKILL');
      await Promise.all(running.map((r) => r.done));
    }
    const length = list.length;
    const items = list.toArray() as ReturnType<typeof valueAt>[];
    expect(items.length).toBe(length);
    for (const item of items) expect(item).toEqual(valueAt(item.key, item.seq));
    list.push(valueAt('after', 1));
    expect(list.pop()).toEqual(valueAt('after', 1));
    expect(list.length).toBe(length);
  });
});

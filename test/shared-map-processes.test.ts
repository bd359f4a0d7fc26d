// SharedMap between processes: concurrent writers, growth under readers,
// waitChange, and writers SIGKILLed at random instants (every key keeps its
// old or its new value, no acknowledged write is lost, the map goes on
// working with no repair call, and the room of interrupted writes returns).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Event, SharedArray, SharedMap } from '../dist/index.js';
import { op, valueAt } from './fixtures/map-ops.mjs';
import { runFixture, Scratch, startFixture, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

describe('SharedMap across processes', () => {
  it('two processes write 20,000 keys each at once (one grows the map) while a third reads them', async () => {
    const map = scratch.add(SharedMap.create<number>(uniqueName('mpw'), { size: 64 * 1024 }));
    const reader = runFixture('map-peer.mjs', ['read', map.name, 'b', '20000']);
    const writers = await Promise.all(['a', 'b'].map((prefix) => runFixture('map-peer.mjs', ['write', map.name, prefix, '20000'])));
    for (const w of writers) expect(w.stdout.trim(), w.stderr).toBe('done');
    expect((await reader).stdout.trim()).toBe('read 20000');
    expect(map.size).toBe(40000);
    for (let i = 0; i < 20000; i += 997) expect([map.get(`a${i}`), map.get(`b${i}`)]).toEqual([i, i]);
  });

  it('readers racing writers that replace the same keys never take a half-written entry for a value', async () => {
    const map = scratch.add(SharedMap.create(uniqueName('mham'), { size: 1 << 20 }));
    const readers = [0, 1].map(() => runFixture('map-peer.mjs', ['hammer-read', map.name, '1', '3000']));
    const writer = await runFixture('map-peer.mjs', ['hammer-write', map.name, '1', '3000']);
    expect(writer.stdout.trim(), writer.stderr).toBe('written');
    for (const run of await Promise.all(readers)) {
      expect(run.stderr).toBe('');
      const { reads, torn } = JSON.parse(run.stdout);
      expect(reads).toBeGreaterThan(1000);
      expect(torn).toBe(0);
    }
  });

  it('waitChange resolves in another process when a key changes, and not for other keys', async () => {
    const map = scratch.add(SharedMap.create<number>(uniqueName('mwc')));
    map.set('watched', 1);
    const waiter = startFixture('map-peer.mjs', ['wait', map.name, 'watched']);
    await waiter.line((l) => l === 'waiting');
    await sleep(50);
    for (let i = 0; i < 100; i++) map.set(`other${i}`, i); // same stripes, other keys: no wake-up that ends it
    map.set('watched', 2);
    expect((await waiter.done).stdout).toContain('changed');
    expect(await map.waitChange('watched', { timeout: 30 })).toBe(false);
  });

  it('increment, update and setIfAbsent from two processes at once: no increment lost, no update lost, each key claimed once', async () => {
    const map = scratch.add(SharedMap.create(uniqueName('mrmw')));
    const go = scratch.add(Event.create(uniqueName('mgo')));
    const peers = [0, 1].map(() => startFixture('map-peer.mjs', ['rmw', map.name, go.name, '20000']));
    for (const peer of peers) await peer.line((l) => l === 'ready');
    go.set();
    const runs = await Promise.all(peers.map((peer) => peer.done));
    const claimed = runs.map((run) => {
      expect(run.stderr).toBe('');
      return JSON.parse(run.stdout.trim().split('\n').pop() as string).claimed as number;
    });
    expect(map.get('n')).toBe(40_000);
    expect((map.get('list') as number[]).length).toBe(400);
    expect(claimed[0] + claimed[1]).toBe(20_000);
  });

  it('cache mode across processes: two writers past maxEntries stay bounded, a third process reads no torn value and no expired entry', async () => {
    const map = scratch.add(SharedMap.create(uniqueName('mcache'), { maxEntries: 500 }));
    const reader = runFixture('map-peer.mjs', ['cache-read', map.name, '2500']);
    const writers = await Promise.all(['0', '1'].map((w) => runFixture('map-peer.mjs', ['cache-write', map.name, w, '20000'])));
    for (const w of writers) expect(w.stdout.trim(), w.stderr).toBe('done');
    const read = await reader;
    expect(read.stderr).toBe('');
    const { reads, torn, stale, expiredSeen } = JSON.parse(read.stdout);
    expect(reads).toBeGreaterThan(1000);
    expect([torn, stale]).toEqual([0, 0]);
    expect(expiredSeen).toBeGreaterThan(0);
    expect(map.size).toBeLessThanOrEqual(500);
    // 40,000 values of about 1 KiB: without eviction the file would pass 32 MiB.
    expect(map.stats().fileBytes).toBeLessThanOrEqual(8 * 2 ** 20);
    for (let i = 0; i < 50; i++) expect(map.get(`ttl0:${i}`)).toBeUndefined();
    const left = [...map.entries()];
    expect(left.length).toBeGreaterThan(100);
    for (const [key, value] of left) expect((value as { key: string }).key).toBe(key);
  });

  // npm test kills 50 times; SHMKIT_MAP_KILLS=1000 npx vitest run test/shared-map-processes.test.ts is the soak.
  it(
    'writers SIGKILLed in the middle of set, update and delete: every key old or new, no acknowledged write lost, room back',
    async () => {
      const kills = Number(process.env.SHMKIT_MAP_KILLS ?? 50);
      const writers = 3;
      const keys = 200;
      const map = scratch.add(SharedMap.create(uniqueName('mkill'), { size: 256 * 1024 }));
      const acks = scratch.add(SharedArray.create(uniqueName('mack'), 'float64', writers * keys));
      const running = Array.from({ length: writers }, (_, w) => startFixture('map-peer.mjs', ['churn', map.name, acks.name, String(w), String(keys)]));
      try {
        // Each writer is killed at a random instant once it churns; its replacement starts while the others are killed.
        for (let kill = 0; kill < kills; kill++) {
          const w = kill % writers;
          await running[w].line((l) => l === 'churning');
          await sleep(Math.random() * 4);
          running[w].child.kill('SIGKILL');
          await running[w].done;
          running[w] = startFixture('map-peer.mjs', ['churn', map.name, acks.name, String(w), String(keys)]);
        }
      } finally {
        for (const r of running) r.child.kill('SIGKILL');
        await Promise.all(running.map((r) => r.done));
      }
      const problems: string[] = [];
      let live = 0;
      for (let w = 0; w < writers; w++) {
        for (let k = 0; k < keys; k++) {
          const key = `w${w}:${k}`;
          const acked = acks.array[w * keys + k];
          const got = map.get(key) as ReturnType<typeof valueAt> | undefined;
          // The last acknowledged operation, or the one after it (done, not yet acknowledged).
          const states = [acked, acked + 1].map((seq) => (seq === 0 || op(seq) === 'delete' ? undefined : valueAt(key, seq)));
          if (!states.some((state) => JSON.stringify(state) === JSON.stringify(got)))
            problems.push(`${key}: acked ${acked}, holds ${JSON.stringify(got)?.slice(0, 80)}`);
          if (got !== undefined) live++;
        }
      }
      expect(problems).toEqual([]);
      expect(map.size).toBe(live);
      // Usable with no repair call; the room of interrupted writes is back in the free lists or reused.
      map.set('after', 'works');
      expect(map.get('after')).toBe('works');
      const stats = map.stats();
      expect(stats.entries).toBe(live + 1);
      expect(stats.heapBytes - stats.freeBytes).toBeLessThanOrEqual(stats.liveBytes + 64 * 1024 + (stats.heapBytes >> 3));
    },
    Math.max(120_000, Number(process.env.SHMKIT_MAP_KILLS ?? 0) * 500),
  );
});

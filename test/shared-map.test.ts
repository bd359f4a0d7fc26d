// SharedMap: Map's API and Python's dict extras, values of every kind a
// Queue carries, atomic read-modify-write, growth, and its errors. The
// cross-process and crash tests are in shared-map-processes.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { SharedMap, SharedMemory } from '../dist/index.js';
import { expectCode, Scratch, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

function fresh<V = unknown>(options?: Parameters<typeof SharedMap.create>[1]): SharedMap<V> {
  return scratch.add(SharedMap.create<V>(uniqueName('map'), options));
}

describe('SharedMap', () => {
  it('gets, sets, has, deletes and counts like a Map, through any handle', () => {
    const map = fresh<string>();
    const other = scratch.add(SharedMap.open<string>(map.name));
    expect(map.get('a')).toBeUndefined();
    expect(map.set('a', 'one')).toBe(map);
    map.set('b', 'two');
    expect(other.get('a')).toBe('one');
    expect(other.has('b')).toBe(true);
    expect(other.size).toBe(2);
    map.set('a', 'uno');
    expect(other.get('a')).toBe('uno');
    expect(other.delete('a')).toBe(true);
    expect(other.delete('a')).toBe(false);
    expect(map.has('a')).toBe(false);
    expect(map.size).toBe(1);
    expect([...map]).toEqual([['b', 'two']]);
  });

  it('returns every value as the type it was set with', () => {
    const map = fresh();
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    const values: Record<string, unknown> = {
      ascii: 'plain text',
      utf8: 'héllo wörld ✓ 😀',
      empty: '',
      int: 42,
      float: -1.5e-300,
      negativeZero: -0,
      nan: Number.NaN,
      yes: true,
      no: false,
      nothing: null,
      undef: undefined,
      buffer: Buffer.from([1, 2, 3]),
      bytes: new Uint8Array([4, 5]),
      floats: new Float64Array([1.25, -2]),
      bigints: new BigInt64Array([-(2n ** 63n)]),
      object: { id: 1, tags: ['a', 'b'], nested: { ok: true } },
      date: new Date(1_700_000_000_000),
      map: new Map([['k', 1]]),
      set: new Set([1, 'two']),
      bigint: 2n ** 70n,
      cycle,
      // Plain data (MessagePack) next to what only structured clone keeps (v8.serialize), inside objects too.
      plainNested: { a: [1, 'two', { three: [null, true, undefined] }], n: -12.5, big: 2 ** 60, s: 'é😀' },
      sparse: Object.assign(new Array(3), { 0: 1, 2: 3 }),
      arrayWithProperty: Object.assign([1, 2], { extra: 'kept' }),
      protoKey: JSON.parse('{"__proto__": {"x": 1}, "y": 2}'),
      negativeZeroInside: { z: -0 },
      dateInside: { when: new Date(0) },
      deep: JSON.parse(`${'{"d":'.repeat(40)}1${'}'.repeat(40)}`),
      // Structured clone keeps a lone surrogate inside a value; UTF-8 (MessagePack) would make it U+FFFD.
      loneSurrogateInside: { s: 'a\uD800b', '\uDC00k': 1 },
    };
    for (const [key, value] of Object.entries(values)) map.set(key, value);
    const other = scratch.add(SharedMap.open(map.name));
    for (const [key, value] of Object.entries(values)) {
      const got = other.get(key);
      if (key === 'cycle') {
        expect((got as Record<string, unknown>).self).toBe(got);
        continue;
      }
      expect(got, key).toEqual(value);
      if (value !== null && typeof value === 'object') expect((got as object).constructor, key).toBe((value as object).constructor);
    }
    expect(Object.is(other.get('negativeZero'), -0)).toBe(true);
    expect(Object.is((other.get('negativeZeroInside') as { z: number }).z, -0)).toBe(true);
    expect(1 in (other.get('sparse') as unknown[])).toBe(false);
    expect((other.get('arrayWithProperty') as { extra?: string }).extra).toBe('kept');
    expect(Object.getPrototypeOf(other.get('protoKey'))).toBe(Object.prototype);
    expect(Object.hasOwn(other.get('protoKey') as object, '__proto__')).toBe(true);
    expect(other.has('undef')).toBe(true);
    expect(other.size).toBe(Object.keys(values).length);
  });

  it('keys of any UTF-8, including lone surrogates and the empty string', () => {
    const map = fresh<number>();
    const keys = ['', 'a', 'é', '日本語', '😀', 'a\uD800b', '\uDC00', 'x'.repeat(2000)];
    for (const [i, key] of keys.entries()) map.set(key, i);
    for (const [i, key] of keys.entries()) expect(map.get(key), JSON.stringify(key)).toBe(i);
    expect(map.size).toBe(keys.length);
    // A lone surrogate is stored as UTF-8 stores it (U+FFFD): it reads back as that.
    expect([...map.keys()].sort()).toEqual(keys.map((k) => Buffer.from(k).toString()).sort());
  });

  it('iterates keys, values, entries and forEach, weakly consistent with writes during the walk', () => {
    const map = fresh<number>();
    for (let i = 0; i < 3000; i++) map.set(`k${i}`, i);
    const seen = new Map<string, number>();
    for (const [key, value] of map) {
      seen.set(key, value);
      // Writes during the walk (that rebuild the index) neither throw nor repeat a key.
      if (seen.size === 100) for (let i = 3000; i < 6000; i++) map.set(`k${i}`, i);
    }
    expect(seen.size).toBeGreaterThanOrEqual(3000);
    for (let i = 0; i < 3000; i++) expect(seen.get(`k${i}`)).toBe(i);
    expect([...map.values()].length).toBe(6000);
    let count = 0;
    map.forEach((value, key, self) => {
      expect(self).toBe(map);
      expect(key).toBe(`k${value}`);
      count++;
    });
    expect(count).toBe(6000);
    map.clear();
    expect(map.size).toBe(0);
    expect([...map.keys()]).toEqual([]);
  });

  it('update, getOrSet, setdefault, setIfAbsent, pop and increment', () => {
    const map = fresh<unknown>();
    expect(map.update('n', (old) => (old === undefined ? 1 : (old as number) + 1))).toBe(1);
    expect(map.update('n', (old) => (old as number) + 1)).toBe(2);
    expect(map.update('n', () => undefined)).toBeUndefined();
    expect(map.has('n')).toBe(false);
    expect(map.getOrSet('g', () => ({ made: true }))).toEqual({ made: true });
    expect(map.getOrSet('g', () => 'not called')).toEqual({ made: true });
    expect(map.setdefault('d', 'first')).toBe('first');
    expect(map.setdefault('d', 'second')).toBe('first');
    expect(map.setIfAbsent('s', 1)).toBe(true);
    expect(map.setIfAbsent('s', 2)).toBe(false);
    expect(map.get('s')).toBe(1);
    expect(map.pop('s')).toBe(1);
    expect(map.pop('s', 'default')).toBe('default');
    expect(map.increment('c')).toBe(1);
    expect(map.increment('c', 2.5)).toBe(3.5);
    expect(map.increment('c', -3.5)).toBe(0);
    map.set('text', 'x');
    expectCode(() => map.increment('text'), 'ERR_SHM_INVALID_ARG');
    expect(map.get('text')).toBe('x');
    // A callback that throws changes nothing; one that writes to the map would deadlock.
    expect(() =>
      map.update('text', () => {
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(map.get('text')).toBe('x');
    expectCode(() => map.update('text', () => map.set('other', 1) && 'y'), 'ERR_SHM_WOULD_DEADLOCK');
    expect(map.get('text')).toBe('x');
  });

  it('versions: every write gives the key a new, higher version; set with ifVersion is a compare-and-set', () => {
    const map = fresh<string>();
    expect(map.getEntry('k')).toBeUndefined();
    expect(map.set('k', 'a', { ifVersion: 5 })).toBe(false);
    expect(map.set('k', 'a', { ifVersion: 0 })).toBe(true);
    const first = map.getEntry('k')!;
    expect(first.value).toBe('a');
    expect(map.set('k', 'b', { ifVersion: 0 })).toBe(false);
    expect(map.set('k', 'b', { ifVersion: first.version })).toBe(true);
    const second = map.getEntry('k')!;
    expect(second.version).toBeGreaterThan(first.version);
    expect(map.set('k', 'c', { ifVersion: first.version })).toBe(false);
    map.delete('k');
    map.set('k', 'd');
    expect(map.getEntry('k')!.version).toBeGreaterThan(second.version);
  });

  it('grows from 64 KiB while another handle reads, reuses the room of replaced values, and reports ERR_SHM_MAP_FULL past maxSize with nothing changed', () => {
    const map = fresh<string>({ size: 64 * 1024, maxSize: 8 * 1024 * 1024 });
    const reader = scratch.add(SharedMap.open<string>(map.name));
    const value = (i: number) => `${i}:`.padEnd(100 + (i % 900), 'v');
    for (let i = 0; i < 5000; i++) {
      map.set(`k${i}`, value(i));
      if (i % 97 === 0) expect(reader.get(`k${i >> 1}`)).toBe(value(i >> 1));
    }
    for (let i = 0; i < 5000; i++) expect(reader.get(`k${i}`)).toBe(value(i));
    const statsBefore = map.stats();
    // Replacing every value with one of the same size reuses the freed room.
    for (let round = 0; round < 3; round++) for (let i = 0; i < 5000; i++) map.set(`k${i}`, value(i));
    expect(map.stats().heapBytes).toBeLessThanOrEqual(statsBefore.heapBytes * 1.25);
    const full = expectCode(() => map.set('huge', 'x'.repeat(9 * 1024 * 1024)), 'ERR_SHM_MAP_FULL');
    expect(full.message).toContain('maxSize');
    expect(map.has('huge')).toBe(false);
    expect(map.size).toBe(5000);
    expect(reader.get('k4999')).toBe(value(4999));
  });

  it('refuses bad keys, values, options, closed handles and segments that are not maps', () => {
    const map = fresh();
    expectCode(() => map.get(1 as unknown as string), 'ERR_SHM_INVALID_ARG');
    expectCode(() => map.set({} as unknown as string, 1), 'ERR_SHM_INVALID_ARG');
    expectCode(() => map.set('f', () => 1), 'ERR_SHM_INVALID_ARG');
    expectCode(() => map.set('k', 1, { ifVersion: -1 }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => map.update('k', 'no' as unknown as () => 1), 'ERR_SHM_INVALID_ARG');
    expectCode(() => SharedMap.create(uniqueName('mbad'), { size: 10 }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => SharedMap.create(uniqueName('mbad'), { size: 1 << 20, maxSize: 1 << 16 }), 'ERR_SHM_INVALID_ARG');
    map.close();
    expectCode(() => map.get('k'), 'ERR_SHM_CLOSED');
    expectCode(() => map.set('k', 1), 'ERR_SHM_CLOSED');
    expectCode(() => map.size, 'ERR_SHM_CLOSED');
    const raw = scratch.add(new SharedMemory({ name: uniqueName('mraw'), create: true, size: 4096 }));
    expectCode(() => SharedMap.open(raw.name), 'ERR_SHM_FORMAT');
  });
});

describe('SharedMap cache mode', () => {
  it('maxEntries: writes evict entries nobody read since the clock hand passed; entries being read stay', () => {
    const map = fresh<number>({ maxEntries: 100 });
    for (let i = 0; i < 100; i++) map.set(`k${i}`, i);
    const hot = Array.from({ length: 20 }, (_, i) => `k${i}`);
    for (let round = 0; round < 20; round++) {
      for (const key of hot) expect(map.get(key)).not.toBeUndefined();
      for (let i = 0; i < 20; i++) map.set(`new${round}:${i}`, i);
    }
    expect(map.size).toBeLessThanOrEqual(100);
    // The keys read all along are still there; most of those never read are gone.
    for (const key of hot) expect(map.has(key), key).toBe(true);
    let coldLeft = 0;
    for (let i = 20; i < 100; i++) if (map.has(`k${i}`)) coldLeft++;
    expect(coldLeft).toBeLessThan(40);
  });

  it('maxBytes bounds the bytes of entries', () => {
    const map = fresh<string>({ maxBytes: 64 * 1024 });
    for (let i = 0; i < 1000; i++) map.set(`k${i}`, 'v'.repeat(500));
    const stats = map.stats();
    expect(stats.liveBytes).toBeLessThan(64 * 1024 + 16 * 1024); // entries plus the index
    expect(map.size).toBeGreaterThan(50);
    expect(map.get('k999')).toBe('v'.repeat(500));
  });

  it('ttl: an entry reads as absent once its time is up, and a write replaces it', async () => {
    const map = fresh<string>();
    map.set('short', 'lived', { ttl: 30 });
    map.set('long', 'lived', { ttl: 60_000 });
    map.set('forever', 'lived');
    expect(map.get('short')).toBe('lived');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(map.get('short')).toBeUndefined();
    expect(map.has('short')).toBe(false);
    expect(map.getEntry('short')).toBeUndefined();
    expect([...map.keys()].sort()).toEqual(['forever', 'long']);
    expect(map.setIfAbsent('short', 'again')).toBe(true);
    expect(map.get('short')).toBe('again');
    expect(map.get('long')).toBe('lived');
    expectCode(() => map.set('k', 'v', { ttl: -1 }), 'ERR_SHM_INVALID_ARG');
  });
});

import { describe, expect, it } from 'vitest';
import { Empty, Full, Queue, ShmError } from '../dist/index.js';
import { check, message } from './fixtures/messages.mjs';
import { uniqueName } from './helpers.js';

async function withQueue<T>(options: Parameters<typeof Queue.create>[1], body: (q: Queue, name: string) => T | Promise<T>): Promise<T> {
  const name = uniqueName('q');
  const q = Queue.create(name, options);
  try {
    return await body(q, name);
  } finally {
    q.close();
    q.unlink();
  }
}

describe('Queue', () => {
  it('round-trips every kind of payload as the same type', async () => {
    const name = uniqueName('q');
    const q = Queue.create(name, { capacity: 4096 });
    const other = Queue.open(name);
    try {
      const payloads: unknown[] = [
        'héllo ✓',
        '',
        Buffer.from([1, 2, 3]),
        new Uint8Array([4, 5]),
        new Int16Array([-1, 2]),
        new Float32Array([1.5]),
        new BigInt64Array([-(2n ** 63n)]),
        new BigUint64Array([2n ** 64n - 1n]),
        new Uint8ClampedArray([255]),
        new ArrayBuffer(3),
        new DataView(new ArrayBuffer(2)),
        { a: 1, nested: { b: [1n, 'x', null] }, d: new Date(5), m: new Map([[1, 2]]) },
        42,
        null,
        undefined,
      ];
      for (const p of payloads) await q.put(p);
      expect(other.qsize()).toBe(payloads.length);
      for (const p of payloads) {
        const got = await other.get();
        expect(got).toEqual(p);
        if (p !== null && typeof p === 'object') expect(Object.getPrototypeOf(got)).toBe(Object.getPrototypeOf(p));
      }
      expect(other.empty()).toBe(true);
    } finally {
      other.close();
      q.close();
      q.unlink();
    }
  });

  it('wraps around the ring at every offset, for every message size', () =>
    withQueue({ capacity: 256 }, (q) => {
      let checked = 0;
      for (let round = 0; round < 64; round++) {
        for (const size of [0, 1, 7, 8, 9, 63, 100, 200, 245]) {
          const bytes = Buffer.alloc(size, (round * 31 + size) & 255);
          q.putNowait(bytes);
          const got = q.getNowait() as Buffer;
          expect(got.equals(bytes)).toBe(true);
          const text = `${String.fromCharCode(97 + (round % 26)).repeat(size)}✓`; // 3 more bytes, up to the 248 that fit
          q.putSync(text);
          expect(q.getSync()).toBe(text);
          checked += 2;
        }
      }
      expect(checked).toBe(64 * 9 * 2);
    }));

  it('full and empty: nowait variants throw Full / Empty, timeouts wait and then throw', async () => {
    await withQueue({ capacity: 64, maxsize: 2 }, async (q) => {
      expect(() => q.getNowait()).toThrow(Empty);
      await expect(q.get({ timeout: 30 })).rejects.toBeInstanceOf(Empty);
      expect(() => q.getSync({ timeout: 10 })).toThrow(Empty);
      q.putNowait('a');
      q.putNowait('b');
      expect(q.full()).toBe(true); // maxsize reached
      expect(() => q.putNowait('c')).toThrow(Full);
      const t0 = performance.now();
      await expect(q.put('c', { timeout: 50 })).rejects.toMatchObject({ name: 'Full', code: 'ERR_SHM_QUEUE_FULL' });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
      expect(() => q.putSync('c', { timeout: 10 })).toThrow(Full);
      // A waiting put completes as soon as a get makes room.
      const pending = q.put('c', { timeout: 2000 });
      setTimeout(() => q.getNowait(), 20);
      await pending;
      expect([q.getNowait(), q.getNowait()]).toEqual(['b', 'c']);
    });
  });

  it('a message larger than the ring is a typed error, not a hang; bad input is typed', async () => {
    await withQueue({ capacity: 128 }, async (q) => {
      expect(q.capacity).toBe(128);
      await expect(q.put(Buffer.alloc(121))).rejects.toMatchObject({ code: 'ERR_SHM_MESSAGE_TOO_LARGE' });
      expect(() => q.putSync('x'.repeat(200))).toThrow(/can never fit/);
      q.putNowait(Buffer.alloc(120)); // exactly the largest that fits
      expect((q.getNowait() as Buffer).length).toBe(120);
      await expect(q.put(() => 1)).rejects.toMatchObject({ code: 'ERR_SHM_INVALID_ARG' });
      expect(() => Queue.create(uniqueName('q'), { capacity: 0 })).toThrow(ShmError);
      expect(() => Queue.create(uniqueName('q'), { maxsize: -1 })).toThrow(ShmError);
    });
  });

  it('an AbortSignal cancels a pending get; for await yields until the handle closes', async () => {
    await withQueue({}, async (q) => {
      const controller = new AbortController();
      const pending = q.get({ signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      q.putNowait(message(1, 0));
      q.putNowait(message(1, 1));
      const seen: number[] = [];
      for await (const m of q) {
        seen.push(check(m).seq);
        if (seen.length === 2) q.close();
      }
      expect(seen).toEqual([0, 1]);
    });
  });
});

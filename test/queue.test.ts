import { describe, expect, it } from 'vitest';
import { Empty, Full, Queue, SharedMemory, ShmError } from '../dist/index.js';
import { check, message } from './fixtures/messages.mjs';
import { CLOSE_MOMENTS, expectCode, runFixture, runFixtureWithin, settledAs, startFixture, uniqueName } from './helpers.js';

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

  it('puts that wait for room, and gets that wait for a message, are served in call order', () =>
    withQueue({ capacity: 256 }, async (q, name) => {
      const other = Queue.open(name);
      try {
        await q.put(Buffer.alloc(200, 1)); // the ring is now too full for any of the next
        const messages = ['first waiting put', Buffer.from('second'), { third: [3, 'x'.repeat(40)] }, 'fourth'];
        const puts = messages.map((m) => q.put(m));
        const got = [await other.get()];
        while (got.length < 5) got.push(await other.get({ timeout: 2000 }));
        await Promise.all(puts);
        expect(got.slice(1)).toEqual(messages);

        const gets = [other.get(), other.get(), other.get(), other.getView().then((v) => Buffer.from(v.bytes).toString())];
        for (const m of ['a', 'b', 'c', 'd']) await q.put(m);
        expect(await Promise.all(gets)).toEqual(['a', 'b', 'c', 'd']);

        // A get waiting behind a getView on the same handle takes the next message (the view is released at its turn).
        const view = other.getView();
        const after = other.get({ timeout: 2000 });
        await q.put('e');
        await q.put('f');
        const bytes = (await view).bytes;
        expect(await after).toBe('f');
        expect(bytes.byteLength).toBe(0);
      } finally {
        other.close();
      }
    }));

  it('wraps around the ring at every offset, for every message size', () =>
    withQueue({ capacity: 256 }, (q) => {
      let checked = 0;
      for (let round = 0; round < 64; round++) {
        for (const size of [0, 1, 7, 8, 9, 63, 100, 200, 237]) {
          const bytes = Buffer.alloc(size, (round * 31 + size) & 255);
          q.putNowait(bytes);
          const got = q.getNowait() as Buffer;
          expect(got.equals(bytes)).toBe(true);
          const text = `${String.fromCharCode(97 + (round % 26)).repeat(size)}✓`; // 3 more bytes, up to the 240 that fit
          q.putSync(text);
          expect(q.getSync()).toBe(text);
          checked += 2;
        }
      }
      expect(checked).toBe(64 * 9 * 2);
    }));

  it('request/reply keeps to the first 64 KiB of a large ring (it wraps early when empty); a ring never empty is used whole', () =>
    withQueue({ capacity: 1 << 20 }, (q, name) => {
      const raw = new SharedMemory(name);
      const tailOffset = () => new DataView(raw.buffer).getUint32(128, true) & ((1 << 20) - 1); // TAIL, the ring's first control word
      try {
        let furthest = 0;
        for (let i = 0; i < 5000; i++) {
          const text = `${i}`.padEnd(32, '.');
          q.putSync(text);
          expect(q.getSync()).toBe(text);
          furthest = Math.max(furthest, tailOffset());
        }
        expect(furthest).toBeLessThan(65536 + 64); // 5,000 frames of 40 bytes: 200,000 bytes without the early wrap
        q.putSync('one waiting');
        furthest = 0;
        for (let i = 0; i < 30_000; i++) {
          q.putSync('x'.repeat(32));
          expect(q.getSync()).toBe(i === 0 ? 'one waiting' : 'x'.repeat(32));
          furthest = Math.max(furthest, tailOffset());
        }
        expect(furthest).toBeGreaterThan(1 << 19);
      } finally {
        raw.close();
      }
    }));

  it('a capacity is rounded up to a power of two (at least 64), as the README says, and read back', () => {
    for (const [asked, made] of [
      [1000, 1024],
      [1024, 1024],
      [1, 64],
    ]) {
      const name = uniqueName('qcap');
      const q = Queue.create(name, { capacity: asked });
      try {
        expect(q.capacity).toBe(made);
        const again = Queue.openOrCreate(name, { capacity: asked }); // the same request matches what it made
        expect(again.capacity).toBe(made);
        again.close();
      } finally {
        q.close();
        q.unlink();
      }
    }
  });

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
      await expect(q.put(Buffer.alloc(113))).rejects.toMatchObject({ code: 'ERR_SHM_MESSAGE_TOO_LARGE' });
      expect(() => q.putSync('x'.repeat(200))).toThrow(/can never fit/);
      q.putNowait(Buffer.alloc(112)); // exactly the largest that fits: the ring less two frame headers
      expect((q.getNowait() as Buffer).length).toBe(112);
      await expect(q.put(() => 1)).rejects.toMatchObject({ code: 'ERR_SHM_INVALID_ARG' });
      expect(() => Queue.create(uniqueName('q'), { capacity: 0 })).toThrow(ShmError);
      expect(() => Queue.create(uniqueName('q'), { maxsize: -1 })).toThrow(ShmError);
    });
  });

  it('every call on a handle already closed fails with ERR_SHM_CLOSED, with messages waiting or not', async () => {
    const name = uniqueName('q');
    const q = Queue.create(name, { capacity: 1024 });
    const other = Queue.open(name);
    try {
      other.putSync('waiting');
      other.putSync(Buffer.from([1, 2]));
      q.close();
      const asyncCalls = [
        () => q.get(),
        () => q.put('x'),
        () => q.get({ timeout: 10 }),
        () => q.put('x', { timeout: 10 }),
        () => q.getView(),
        () => q.reserve(8),
      ];
      for (const call of asyncCalls) await expect(call()).rejects.toMatchObject({ code: 'ERR_SHM_CLOSED' });
      const syncCalls = [
        () => q.getSync(),
        () => q.putSync('x'),
        () => q.getSync({ timeout: 10 }),
        () => q.putSync(Buffer.alloc(1)),
        () => q.getNowait(),
        () => q.putNowait('x'),
      ];
      for (const call of [...syncCalls, () => q.getViewSync(), () => q.reserveSync(8), () => q.qsize()]) {
        expect(call).toThrow(expect.objectContaining({ code: 'ERR_SHM_CLOSED' }));
      }
      expect([other.getSync({ timeout: 0 }), other.getSync({ timeout: 0 })]).toEqual(['waiting', Buffer.from([1, 2])]); // untouched
      await other.put('lock given back');
      expect(await other.get()).toBe('lock given back');
    } finally {
      other.close();
      q.unlink();
    }
  });

  // close() in the tick of an async call, a few microtask turns later, or
  // while it waits: its memory is gone then, so the call must end with
  // ERR_SHM_CLOSED, never a TypeError from touching the detached buffer
  // (getView did, 100 of 100, after taking the get lock at once). A call
  // that could go at once may also have gone before the close (resolved).
  it.each([
    ['get', (q: Queue) => q.get()],
    ['put', (q: Queue) => q.put(Buffer.alloc(100))],
    ['getView', (q: Queue) => q.getView()],
    ['reserve', (q: Queue) => q.reserve(100)],
  ] as const)('%s closed in the same tick or while pending ends with ERR_SHM_CLOSED', async (what, call) => {
    const reads = what === 'get' || what === 'getView';
    const outcomes: string[] = [];
    for (const mustWait of [true, false]) {
      for (const moment of CLOSE_MOMENTS) {
        const name = uniqueName('qc');
        const q = Queue.create(name, { capacity: 256 });
        const other = Queue.open(name);
        try {
          if (reads !== mustWait) other.putSync(Buffer.alloc(150)); // a message to take, or a ring with no room for another
          const settled = settledAs(call(q));
          const waited = moment.wait();
          if (waited !== undefined) await waited; // an await of nothing is a microtask turn too
          q.close();
          const outcome = await settled;
          if (outcome !== 'ERR_SHM_CLOSED' && (mustWait || outcome !== 'resolved')) {
            outcomes.push(`${mustWait ? 'waiting' : 'could go at once'}, closed ${moment.label}: ${outcome}`);
          }
        } finally {
          other.close();
          q.close();
          q.unlink();
        }
      }
    }
    expect(outcomes).toEqual([]);
  });

  it('a blocking call while an async call of the same handle waits holding its lock is ERR_SHM_WOULD_DEADLOCK, not a hang', () =>
    withQueue({ capacity: 4096, maxsize: 1 }, async (q) => {
      const waitingGet = q.get(); // no message: it waits holding the get lock
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const call of [() => q.getSync(), () => q.getSync({ timeout: 50 }), () => q.getViewSync()]) {
        expect(call).toThrow(expect.objectContaining({ code: 'ERR_SHM_WOULD_DEADLOCK' }));
      }
      q.putSync('first');
      expect(await waitingGet).toBe('first');
      q.putSync('fills the queue');
      const waitingPut = q.put('waits for room'); // maxsize reached: it waits holding the put lock
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const call of [() => q.putSync('x'), () => q.putSync('x', { timeout: 50 }), () => q.reserveSync(8)]) {
        expect(call).toThrow(expect.objectContaining({ code: 'ERR_SHM_WOULD_DEADLOCK' }));
      }
      expect(q.getSync()).toBe('fills the queue');
      await waitingPut;
      expect(q.getSync()).toBe('waits for room');
    }));

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

describe('Queue across unrelated processes', () => {
  it('100,000 mixed messages from 3 producers to 2 consumers: each arrives once, in order, intact', async () => {
    const name = uniqueName('q3x2');
    const queue = Queue.create(name, { capacity: 64 * 1024 });
    const counts = [33_334, 33_333, 33_333];
    try {
      const consumers = [0, 1].map(() => runFixture('channel-peer.mjs', ['consume', name]));
      const producers = counts.map((n, id) => runFixture('channel-peer.mjs', ['produce', name, String(id), String(n)]));
      for (const run of await Promise.all(producers)) expect(run.stdout.trim(), run.stderr).toBe('produced');
      await queue.put('STOP');
      await queue.put('STOP');
      const results = (await Promise.all(consumers)).map((run) => {
        expect(run.stderr).toBe('');
        return JSON.parse(run.stdout) as { seqs: Record<string, number[]>; bad: number };
      });
      expect(results.map((r) => r.bad)).toEqual([0, 0]);
      for (const [id, n] of counts.entries()) {
        const perConsumer = results.map((r) => r.seqs[id] ?? []);
        for (const seqs of perConsumer) {
          // Per-producer order: what one consumer got from one producer is increasing.
          expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1])).toBe(true);
        }
        const all = perConsumer.flat().sort((a, b) => a - b);
        expect(all.length).toBe(n);
        expect(all.every((s, i) => s === i)).toBe(true); // each exactly once
      }
      expect(queue.empty()).toBe(true);
    } finally {
      queue.close();
      queue.unlink();
    }
  }, 120_000);

  it('a producer SIGKILLed mid-stream leaves no torn message; the queue goes on working', async () => {
    const name = uniqueName('qkill');
    const queue = Queue.create(name, { capacity: 256 * 1024 });
    try {
      const producer = startFixture('channel-peer.mjs', ['flood', name]);
      await producer.line((l) => l === 'flooding');
      let expected = 0;
      const drain = async (until: () => boolean) => {
        while (!until()) {
          let m: Uint8Array;
          try {
            m = (await queue.get({ timeout: 300 })) as Uint8Array;
          } catch (err) {
            if (err instanceof ShmError && err.code === 'ERR_SHM_QUEUE_EMPTY') return;
            throw err;
          }
          const view = new DataView(m.buffer, m.byteOffset, m.byteLength);
          expect(view.getUint32(0, true)).toBe(expected++); // no gap, no repeat
          let sum = 0;
          for (let i = 8; i < m.length; i++) sum = (sum + m[i]) >>> 0;
          expect(sum).toBe(view.getUint32(4, true)); // intact
        }
      };
      const start = performance.now();
      await drain(() => performance.now() - start > 150 + Math.random() * 200);
      producer.child.kill('SIGKILL');
      await producer.done;
      await drain(() => false); // everything that was committed, then Empty
      expect(expected).toBeGreaterThan(10);
      // The dead producer may have held the put lock: a new put takes it over.
      await queue.put('after', { timeout: 2000 });
      expect(await queue.get({ timeout: 1000 })).toBe('after');
    } finally {
      queue.close();
      queue.unlink();
    }
  });

  it('a dead reader does not wedge writers: a full queue times out, and a new reader takes over', async () => {
    const name = uniqueName('qdead');
    const queue = Queue.create(name, { capacity: 64, maxsize: 1 });
    try {
      const reader = startFixture('channel-peer.mjs', ['consume', name]);
      await new Promise((resolve) => setTimeout(resolve, 300)); // it now waits, holding the get lock
      reader.child.kill('SIGKILL');
      await reader.done;
      await queue.put(message(0, 0));
      await expect(queue.put(message(0, 1), { timeout: 100 })).rejects.toMatchObject({ code: 'ERR_SHM_QUEUE_FULL' });
      expect(check(await queue.get({ timeout: 2000 }))).toEqual({ id: 0, seq: 0, ok: true });
    } finally {
      queue.close();
      queue.unlink();
    }
  });
});

describe('Queue padding frames across processes', () => {
  it("30,000 messages over a 256-byte ring where most need the writer's padding frame: in order, none lost, the room never stops coming back", async () => {
    const name = uniqueName('qpad');
    const q = Queue.create(name, { capacity: 256 });
    try {
      const producer = runFixture('channel-peer.mjs', ['pad-produce', name, '30000']);
      let wrong = 0;
      for (let seq = 0; seq < 30_000; seq++) {
        // A writer taking its padding frame races the consumer taking the frame before it; a lost HEAD move wedged this.
        const m = (seq % 2 ? q.getSync({ timeout: 10_000 }) : await q.get({ timeout: 10_000 })) as Buffer;
        if (m.readUInt32LE(0) !== seq || m.length !== 40 + ((seq * 37) % 117)) wrong++;
      }
      expect(wrong).toBe(0);
      const run = await producer;
      expect(run.stdout.trim(), run.stderr).toBe('produced');
    } finally {
      q.close();
      q.unlink();
    }
  }, 60_000);
});

describe('Queue over a corrupt segment (another program wrote it)', () => {
  /** A sweep process that has not ended by then hung. */
  const SWEEP_HANG_MS = 30_000;
  const DATA = 128; // the data (the ring's control words) start here (docs/format.md)
  const CAPACITY_WORD = DATA + 34 * 4;
  const FRAMES = DATA + 512;

  function corrupt(name: string, edit: (view: DataView) => void): void {
    const raw = new SharedMemory(name);
    edit(new DataView(raw.buffer));
    raw.close();
  }

  it.each([0, 6, -1, 2 ** 30])('a ring capacity word of %d is ERR_SHM_FORMAT at open', (capacity) => {
    const name = uniqueName('qcap');
    const q = Queue.create(name, { capacity: 1024 });
    try {
      corrupt(name, (view) => view.setInt32(CAPACITY_WORD, capacity, true));
      expectCode(() => Queue.open(name), 'ERR_SHM_FORMAT');
    } finally {
      q.close();
      q.unlink();
    }
  });

  it('a frame that cannot be decoded is dropped and reported; the messages behind it still arrive', async () => {
    const name = uniqueName('qbad');
    const q = Queue.create(name, { capacity: 1024 });
    try {
      q.putSync({ first: true }); // a v8.serialize frame
      q.putSync('second');
      corrupt(name, (view) => view.setUint32(FRAMES + 8, 0x01010101, true)); // garbage over v8.serialize's header
      const err = expectCode(() => q.getSync(), 'ERR_SHM_FORMAT');
      expect(err.message).toMatch(/could not be decoded and was dropped/);
      expect(q.getSync()).toBe('second');
    } finally {
      q.close();
      q.unlink();
    }
  });

  it('a holder table another program wrote (a wrong count, tokens of no one, any positions) never stops the room coming back', () => {
    const name = uniqueName('qheld');
    const q = Queue.create(name, { capacity: 1024 });
    const word = (index: number) => DATA + index * 4;
    try {
      corrupt(name, (view) => {
        view.setInt32(word(19), 7, true); // held_count
        view.setInt32(word(96 + 3), 12345, true); // a token no live handle has, at an impossible position
        view.setUint32(word(64 + 3), 0xdeadbee8, true);
        view.setInt32(word(96 + 5), -5, true); // a token no handle can have, at the first frame
        view.setUint32(word(64 + 5), 0, true);
        view.setInt32(word(96 + 6), 777, true); // at a position no frame starts at
        view.setUint32(word(64 + 6), 4, true);
      });
      const got: unknown[] = [];
      let extra = 0;
      const take = (): unknown => {
        try {
          return q.getNowait();
        } catch (err) {
          const code = (err as { code: string }).code;
          if (code === 'ERR_SHM_QUEUE_EMPTY') return undefined;
          expect(code).toBe('ERR_SHM_FORMAT'); // a held frame that cannot be right, dropped
          extra++;
          return take();
        }
      };
      for (let i = 0; i < 200; i++) {
        q.putSync(`m${i}`, { timeout: 1000 }); // three times round the ring: Full here would mean the room stopped coming back
        for (let m = take(); m !== undefined; m = take()) {
          if (m === `m${got.length}`) got.push(m);
          else extra++; // an entry of no one at a frame already taken: that message again
        }
      }
      expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
      expect(extra).toBeLessThanOrEqual(3); // at most one per bad entry
    } finally {
      q.close();
      q.unlink();
    }
  });

  it.each([
    ['an empty tag word behind tail', 0],
    ['a tag word without the published bit', 5],
  ])('%s drops what was published (reported), and the queue works again', async (_, tagWord) => {
    const name = uniqueName('qtag');
    const q = Queue.create(name, { capacity: 1024 });
    try {
      q.putSync('a');
      q.putSync('b');
      corrupt(name, (view) => view.setUint32(FRAMES + 4, tagWord, true));
      expect(expectCode(() => q.getNowait(), 'ERR_SHM_FORMAT').message).toMatch(/dropped/);
      expect(q.qsize()).toBe(0);
      expectCode(() => q.getNowait(), 'ERR_SHM_QUEUE_EMPTY');
      await q.put('c');
      expect(await q.get({ timeout: 1000 })).toBe('c');
    } finally {
      q.close();
      q.unlink();
    }
  });

  // A producer killed between its two publishing stores (the tag word, then
  // tail) cannot be timed with a real kill: this writes the state it leaves.
  it.each([
    ['read before the next put', true],
    ['read after the next put', false],
  ])('a frame whose writer died before storing tail is delivered once, %s, and tail catches up', (_, readFirst) => {
    const name = uniqueName('qdied');
    const q = Queue.create(name, { capacity: 1024 });
    try {
      q.putSync('a'); // an ASCII frame at 0: 8 + 8 bytes, so tail = 16
      corrupt(name, (view) => {
        view.setUint32(FRAMES + 16, 1, true); // length
        view.setUint8(FRAMES + 24, 'b'.charCodeAt(0));
        view.setUint32(FRAMES + 32 + 4, 0, true); // the header after it, zeroed
        view.setUint32(FRAMES + 16 + 4, 0x80000000 | 5, true); // published as ASCII; tail not stored
      });
      const got: unknown[] = [];
      if (readFirst) got.push(q.getNowait(), q.getNowait());
      q.putSync('c');
      while (got.length < 3) got.push(q.getNowait());
      expect(got).toEqual(['a', 'b', 'c']);
      expectCode(() => q.getNowait(), 'ERR_SHM_QUEUE_EMPTY');
      expect(q.qsize()).toBe(0);
      q.putSync('d'); // the room is right: tail is where the frames end
      expect(q.getNowait()).toBe('d');
    } finally {
      q.close();
      q.unlink();
    }
  });

  it('a frame length written wrong but within the ring: the next get reports the ring corrupt, and nothing after is lost', () => {
    const name = uniqueName('qlen');
    const q = Queue.create(name, { capacity: 1024 });
    try {
      q.putSync('a');
      q.putSync('b');
      corrupt(name, (view) => view.setUint32(FRAMES, 500, true)); // 'a' now runs over 'b' and past everything published
      expect(q.getNowait()).toHaveLength(500); // read as it says: nothing tells a length from a wrong one
      expect(expectCode(() => q.getNowait(), 'ERR_SHM_FORMAT').message).toMatch(/past everything published/);
      const got: unknown[] = [];
      for (let i = 0; i < 200; i++) {
        q.putSync(`m${i}`); // 200 frames, three times round the ring: past where the reader had gone
        got.push(q.getNowait());
      }
      expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    } finally {
      q.close();
      q.unlink();
    }
  });

  it('a tail written unaligned is reported once, by the next put, and the messages after it flow', () => {
    const name = uniqueName('qtail');
    const q = Queue.create(name, { capacity: 4096 });
    try {
      corrupt(name, (view) => view.setInt32(DATA, 4, true)); // tail
      expect(expectCode(() => q.putSync('lost'), 'ERR_SHM_FORMAT').message).toMatch(/tail that no frame starts at/);
      for (let i = 0; i < 5; i++) {
        q.putSync(`m${i}`);
        expect(q.getSync({ timeout: 1000 })).toBe(`m${i}`);
      }
    } finally {
      q.close();
      q.unlink();
    }
  });

  // Each position word written unaligned, 2^31 away, past the capacity, a
  // ring behind and negative (test/fixtures/ring-words.mjs, in a process of
  // its own: a hang fails, not blocks), with and without messages in
  // flight: reported at most once, then every round trip and a fill and
  // drain of the ring come out right. Before, a tail written so was
  // reported on every get for good, or every put went where no get looked.
  it.each([
    ['tail', 'queue', ''],
    ['head', 'queue', ''],
    ['cursor', 'queue', ''],
    ['holderPosition', 'queue', 'hold'],
    ['count', 'bounded', ''],
  ])('%s written with impossible values: reported at most once, and every message after flows (%s)', async (word, kind, hold) => {
    const run = await runFixtureWithin('ring-words.mjs', [uniqueName('qw'), kind, word, '0', hold], SWEEP_HANG_MS);
    expect(run.signal, `crashed or hung: ${run.stderr}`).toBeNull();
    expect(run.code, run.stderr).toBe(0);
    const { trials, findings } = JSON.parse(run.stdout);
    expect(findings).toEqual([]);
    expect(trials).toBe(18);
  });

  it('an impossible frame length drops what was published (reported), and the queue works again', async () => {
    const name = uniqueName('qlen');
    const q = Queue.create(name, { capacity: 1024 });
    try {
      q.putSync('a');
      q.putSync('b');
      corrupt(name, (view) => view.setUint32(FRAMES, 1_000_000, true));
      expect(expectCode(() => q.getSync(), 'ERR_SHM_FORMAT').message).toMatch(/dropped/);
      expect(q.qsize()).toBe(0);
      await q.put('c');
      expect(await q.get({ timeout: 1000 })).toBe('c');
    } finally {
      q.close();
      q.unlink();
    }
  });
});

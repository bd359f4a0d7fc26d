import { describe, expect, it } from 'vitest';
import { Pipe, Queue, ShmError } from '../dist/index.js';
import { check, message } from './fixtures/messages.mjs';
import { runFixture, startFixture, uniqueName } from './helpers.js';

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

describe('Pipe across unrelated processes', () => {
  it('carries messages both ways, and reports end-of-stream to the other end when one closes', async () => {
    const name = uniqueName('pipe');
    const pipe = Pipe.create(name, { capacity: 4096 });
    try {
      const echo = startFixture('channel-peer.mjs', ['echo', name]);
      for (let seq = 0; seq < 2000; seq++) {
        const sent = message(7, seq);
        await pipe.send(sent);
        const back = await pipe.recv({ timeout: 5000 });
        if (typeof sent === 'string') expect(back).toBe(sent.toUpperCase());
        else expect(check(back)).toEqual({ id: 7, seq, ok: true });
      }
      expect(() => Pipe.open(name)).toThrow(expect.objectContaining({ code: 'ERR_SHM_PIPE_BUSY' }));
      pipe.close();
      const run = await echo.done;
      expect(run.stdout.trim()).toBe('end of stream');
    } finally {
      pipe.close();
      pipe.unlink();
    }
  });

  it('the reader drains what the closed end sent, then gets end-of-stream (recv, for await, poll)', async () => {
    const name = uniqueName('pipe');
    const pipe = Pipe.create(name);
    try {
      const peer = startFixture('channel-peer.mjs', ['echo-then-close', name, '3']);
      for (const m of ['a', 'b', 'c']) await pipe.send(m);
      await peer.done;
      expect(await pipe.poll({ timeout: 1000 })).toBe(true);
      expect(await pipe.recv()).toBe('A');
      const rest = [];
      for await (const m of pipe) rest.push(m);
      expect(rest).toEqual(['B', 'C']);
      await expect(pipe.recv()).rejects.toMatchObject({ code: 'ERR_SHM_PIPE_CLOSED' });
      await expect(pipe.send('x')).resolves.toBeUndefined(); // room left: accepted, never read
    } finally {
      pipe.close();
      pipe.unlink();
    }
  });

  it('an end whose process is SIGKILLed reads as end-of-stream, never a hang', async () => {
    const name = uniqueName('pipe');
    const pipe = Pipe.create(name, { capacity: 1024 });
    try {
      const echo = startFixture('channel-peer.mjs', ['echo', name]);
      await pipe.send('ping');
      expect(await pipe.recv()).toBe('PING');
      echo.child.kill('SIGKILL');
      await echo.done;
      const t0 = performance.now();
      await expect(pipe.recv({ timeout: 5000 })).rejects.toMatchObject({ code: 'ERR_SHM_PIPE_CLOSED' });
      expect(performance.now() - t0).toBeLessThan(1000);
      // Sending into a full ring of a dead peer fails too, instead of waiting.
      await expect(
        (async () => {
          for (;;) await pipe.send(Buffer.alloc(200));
        })(),
      ).rejects.toMatchObject({ code: 'ERR_SHM_PIPE_CLOSED' });
    } finally {
      pipe.close();
      pipe.unlink();
    }
  });
});

// Every path of the message codec (lib/channel/codec.ts) between separate
// node processes: strings and bytes (written and made by the addon), plain
// data (MessagePack), and what only structured clone carries (v8.serialize),
// through a Pipe and a Queue, blocking and async, each way.
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Pipe, Queue, SharedMemory } from '../dist/index.js';
import { codecValues, expected } from './fixtures/codec-values.mjs';
import { startFixture, uniqueName } from './helpers.js';

/** Where a Queue's ring data starts in its segment: the header, then the ring's control words (docs/format.md). */
const QUEUE_RING_DATA = 128 + 512;
const PUBLISHED = 0x80000000;
/** How long a peer may take: only a hang limit. */
const HANG_MS = 20_000;

/** The label of each value that did not come back equal to what was sent. */
function mismatches(received: unknown[]): string[] {
  const values = codecValues();
  return values.flatMap(([label, value], i) => (isDeepStrictEqual(received[i], expected(value)) ? [] : [`${label}: ${String(received[i])}`]));
}

describe('message codec across processes', () => {
  it('writes each kind of message with its tag: bytes as bytes, plain data as MessagePack, the rest as v8.serialize', async () => {
    const name = uniqueName('cq');
    const queue = Queue.create(name, { capacity: 1 << 16 });
    try {
      const peer = startFixture('codec-peer.mjs', ['queue-put-all', name]);
      expect((await peer.done).code).toBe(0);
      // Walk the frames the peer published, as docs/format.md lays them out, before any is taken.
      const raw = new SharedMemory(name);
      const view = new DataView(raw.buffer);
      const tags: Array<[string, number]> = [];
      let at = QUEUE_RING_DATA;
      for (const [label] of codecValues()) {
        const length = view.getUint32(at, true);
        tags.push([label, view.getUint32(at + 4, true) - PUBLISHED]);
        at += 8 + ((length + 7) & ~7);
      }
      raw.close();
      expect(tags).toEqual(codecValues().map(([label, , tag]) => [label, tag]));
      const received = codecValues().map(() => queue.getSync({ timeout: HANG_MS }));
      expect(mismatches(received)).toEqual([]);
    } finally {
      queue.close();
      queue.unlink();
    }
  });

  for (const how of ['sync', 'async'] as const) {
    it(`carries every kind of message through a Pipe and back (${how} in both processes)`, async () => {
      const name = uniqueName('cp');
      const pipe = Pipe.create(name, { capacity: 1 << 16 });
      try {
        const peer = startFixture('codec-peer.mjs', ['pipe-echo', name, how]);
        const received: unknown[] = [];
        for (const [, value] of codecValues()) {
          if (how === 'sync') {
            pipe.sendSync(value);
            received.push(pipe.recvSync({ timeout: HANG_MS }));
          } else {
            await pipe.send(value);
            received.push(await pipe.recv({ timeout: HANG_MS }));
          }
        }
        expect(mismatches(received)).toEqual([]);
        expect((await peer.done).code).toBe(0);
      } finally {
        pipe.close();
        pipe.unlink();
      }
    });

    it(`carries every kind of message through a Queue and back (${how} in both processes)`, async () => {
      const [inName, outName] = [uniqueName('cqi'), uniqueName('cqo')];
      const inbox = Queue.create(inName, { capacity: 1 << 16 });
      const outbox = Queue.create(outName, { capacity: 1 << 16 });
      try {
        const peer = startFixture('codec-peer.mjs', ['queue-echo', inName, outName, how]);
        const received: unknown[] = [];
        for (const [, value] of codecValues()) {
          if (how === 'sync') {
            inbox.putSync(value);
            received.push(outbox.getSync({ timeout: HANG_MS }));
          } else {
            await inbox.put(value);
            received.push(await outbox.get({ timeout: HANG_MS }));
          }
        }
        expect(mismatches(received)).toEqual([]);
        expect((await peer.done).code).toBe(0);
      } finally {
        for (const q of [inbox, outbox]) {
          q.close();
          q.unlink();
        }
      }
    });
  }
});

// Zero-copy messages on a Pipe: reserve/commit on the writer side, message
// views on the reader side. A view's or slot's bytes are shared memory until
// release/commit, then detached (length 0): never a window on other data.
import { afterEach, describe, expect, it } from 'vitest';
import { Pipe, Queue } from '../dist/index.js';
import { expectCode, rejection, runFixture, Scratch, startFixture, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

function pair(capacity = 4096): [Pipe, Pipe] {
  const name = uniqueName('zc');
  const here = scratch.add(Pipe.create(name, { capacity }));
  return [here, scratch.add(Pipe.open(name))];
}

describe('Pipe message views', () => {
  it('show the message in place, detach on release, and are released by the next receive or close', async () => {
    const [a, b] = pair();
    a.sendSync(Buffer.from([1, 2, 3]));
    a.sendSync('héllo');
    a.sendSync(Float64Array.of(1.5, -2));
    a.sendSync('last');
    const first = b.recvViewSync();
    const bytes = first.bytes;
    expect([...bytes]).toEqual([1, 2, 3]);
    first.release();
    expect([bytes.length, first.released]).toEqual([0, true]);
    first.release(); // idempotent
    using text = await b.recvView();
    expect(Buffer.from(text.bytes).toString('utf8')).toBe('héllo'); // a string's UTF-8
    const floats = b.recvViewSync(); // releases `text`
    expect([text.released, text.bytes.length]).toEqual([true, 0]);
    expect([...new Float64Array(floats.bytes.buffer)]).toEqual([1.5, -2]); // 8-aligned: reinterpret in place
    expect(b.recvSync()).toBe('last'); // a plain receive releases the held view too
    expect(floats.bytes.length).toBe(0);
    a.sendSync('held at close');
    const held = b.recvViewSync();
    b.close();
    expect([held.released, held.bytes.length]).toEqual([true, 0]);
  });

  it('wait, time out, and end at end-of-stream like recv', async () => {
    const [a, b] = pair();
    expectCode(() => b.recvViewSync({ timeout: 5 }), 'ERR_SHM_TIMEOUT');
    const pending = b.recvView();
    setTimeout(() => a.sendSync('late'), 10);
    expect(Buffer.from((await pending).bytes).toString()).toBe('late');
    a.close();
    expect((await rejection(b.recvView())).code).toBe('ERR_SHM_PIPE_CLOSED');
    const controller = new AbortController();
    controller.abort();
    expect((await rejection(b.recvView({ signal: controller.signal }))).name).toBe('AbortError');
  });
});

describe('Pipe reserve/commit', () => {
  it('publishes what is committed (all or the first n bytes), nothing when abandoned', async () => {
    const [a, b] = pair();
    const slot = a.reserveSync(6);
    slot.bytes.set([9, 8, 7, 6, 5, 4]);
    slot.commit(3);
    expect([slot.done, slot.bytes.length]).toEqual([true, 0]);
    expectCode(() => slot.commit(), 'ERR_SHM_INVALID_ARG');
    {
      using dropped = await a.reserve(100);
      dropped.bytes.fill(1);
    }
    const superseded = a.reserveSync(10);
    a.sendSync('after'); // abandons the uncommitted slot
    expect(superseded.done).toBe(true);
    expectCode(() => superseded.commit(), 'ERR_SHM_INVALID_ARG');
    const whole = a.reserveSync(2);
    whole.bytes.set([1, 2]);
    whole.commit();
    expect(b.recvSync()).toEqual(Buffer.from([9, 8, 7]));
    expect(b.recvSync()).toBe('after');
    expect(b.recvSync()).toEqual(Buffer.from([1, 2]));
    expectCode(() => b.recvSync({ timeout: 0 }), 'ERR_SHM_TIMEOUT');
  });

  it('a send waiting behind a reserve abandons the slot that reserve hands out when its turn comes', async () => {
    const [a, b] = pair(256);
    a.sendSync(Buffer.alloc(200)); // no room for the next two yet
    const reserved = a.reserve(100);
    const sent = a.send(Buffer.alloc(100, 7));
    expect((b.recvSync() as Buffer).length).toBe(200);
    const slot = await reserved;
    await sent;
    expect(slot.done).toBe(true); // superseded by the send behind it
    expectCode(() => slot.commit(), 'ERR_SHM_INVALID_ARG');
    expect(b.recvSync()).toEqual(Buffer.alloc(100, 7));
    expectCode(() => b.recvSync({ timeout: 0 }), 'ERR_SHM_TIMEOUT');
  });

  it('refuses bad lengths, waits for room with a timeout, and fails once the reader has gone', async () => {
    const [a, b] = pair(256);
    expectCode(() => a.reserveSync(241), 'ERR_SHM_MESSAGE_TOO_LARGE'); // 240, the ring less two frame headers, is the largest
    for (const bad of [-1, 1.5, '8', null]) expectCode(() => a.reserveSync(bad as never), 'ERR_SHM_INVALID_ARG');
    const slot = a.reserveSync(8);
    expectCode(() => slot.commit(9), 'ERR_SHM_INVALID_ARG');
    slot.commit();
    a.reserveSync(200).commit();
    expectCode(() => a.reserveSync(100, { timeout: 5 }), 'ERR_SHM_TIMEOUT');
    const late = a.reserve(100, { timeout: 5_000 });
    b.recvSync();
    b.recvSync(); // room for it now (the padding to the ring end is skipped by the writer)
    (await late).commit();
    const orphan = a.reserveSync(8);
    b.close();
    expectCode(() => orphan.commit(), 'ERR_SHM_PIPE_CLOSED');
    expectCode(() => a.reserveSync(8), 'ERR_SHM_PIPE_CLOSED');
  });
});

describe('zero copy across processes', () => {
  it('3,000 messages written in place by another process arrive in order through views, across the ring end, none from abandoned slots', async () => {
    const name = uniqueName('zc');
    const pipe = scratch.add(Pipe.create(name, { capacity: 4096 }));
    const writer = runFixture('channel-peer.mjs', ['reserve-send', name, '3000']);
    let expected = 0;
    let bad = 0;
    for (;;) {
      using view = expected % 3 ? await pipe.recvView({ timeout: 20_000 }) : pipe.recvViewSync({ timeout: 20_000 });
      const bytes = view.bytes;
      if (bytes.length === 4) break; // "STOP"
      const header = new DataView(bytes.buffer, bytes.byteOffset, 8);
      const seq = header.getUint32(0, true);
      let ok = seq === expected && header.getUint32(4, true) === bytes.length && bytes.length === 8 + ((seq * 37) % 1500);
      for (let i = 8; ok && i < bytes.length; i++) ok = bytes[i] === ((seq + i) & 255);
      if (!ok) bad++;
      expected++;
    }
    const run = await writer;
    expect(run.code, run.stderr).toBe(0);
    expect([expected, bad]).toEqual([3000, 0]);
  }, 60_000);
});

describe('Queue zero copy', () => {
  it('a slot holds the put lock until commit or abandon; what is committed arrives as a Buffer', async () => {
    const name = uniqueName('zq');
    const q = scratch.add(Queue.create(name, { capacity: 4096 }));
    const other = scratch.add(Queue.open(name));
    const slot = q.reserveSync(5);
    slot.bytes.set([1, 2, 3, 4, 5]);
    expect(() => other.putSync('waits', { timeout: 10 })).toThrow(expect.objectContaining({ code: 'ERR_SHM_QUEUE_FULL' })); // the put lock is held
    let put = false;
    const waiting = other.put('after').then(() => {
      put = true;
    }); // no options: the put made in one addon call, which must not take the held lock either
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(put).toBe(false);
    slot.commit(4);
    await waiting;
    {
      using dropped = await q.reserve(64);
      dropped.bytes.fill(9);
    }
    const superseded = q.reserveSync(8);
    q.putNowait('supersedes'); // abandons the slot, gives back the lock
    expectCode(() => superseded.commit(), 'ERR_SHM_INVALID_ARG');
    expect(other.getSync()).toEqual(Buffer.from([1, 2, 3, 4]));
    expect([other.getSync(), other.getSync()]).toEqual(['after', 'supersedes']);
    expect(other.qsize()).toBe(0);
    expectCode(() => q.reserveSync(4096), 'ERR_SHM_MESSAGE_TOO_LARGE');
  });

  it('views of several handles at once: each takes the next message, released in any order; a get on the same handle releases its view', async () => {
    const name = uniqueName('zq');
    const q = scratch.add(Queue.create(name, { capacity: 4096 }));
    const other = scratch.add(Queue.open(name));
    for (const m of ['one', 'two', 'three', 'four']) q.putSync(m);
    const first = q.getViewSync();
    const second = await other.getView();
    expect([Buffer.from(first.bytes).toString(), Buffer.from(second.bytes).toString()]).toEqual(['one', 'two']);
    expect(q.qsize()).toBe(2); // held messages are taken: no longer counted
    first.release();
    expect(first.bytes.length).toBe(0);
    expect(Buffer.from(second.bytes).toString()).toBe('two'); // still held, still intact
    expect(other.getSync({ timeout: 0 })).toBe('three'); // releases `second` first
    expect(second.released).toBe(true);
    const last = await q.getView();
    expect(Buffer.from(last.bytes).toString()).toBe('four');
    q.close();
    expect(last.released).toBe(true);
    expect(() => other.getSync({ timeout: 10 })).toThrow(expect.objectContaining({ code: 'ERR_SHM_QUEUE_EMPTY' }));
  });

  it('at most 32 views of a queue are held at once: the next getView is ERR_SHM_TOO_MANY_VIEWS and takes nothing', () => {
    const name = uniqueName('zq');
    const q = scratch.add(Queue.create(name, { capacity: 4096 }));
    const handles = Array.from({ length: 33 }, () => scratch.add(Queue.open(name)));
    for (let i = 0; i < 34; i++) q.putSync(`m${i}`);
    const views = handles.slice(0, 32).map((h) => h.getViewSync());
    expect(views.map((v) => Buffer.from(v.bytes).toString())).toEqual(Array.from({ length: 32 }, (_, i) => `m${i}`));
    expectCode(() => handles[32].getViewSync(), 'ERR_SHM_TOO_MANY_VIEWS');
    expect(q.qsize()).toBe(2);
    views[7].release();
    expect(Buffer.from(handles[32].getViewSync().bytes).toString()).toBe('m32');
    expect(q.getSync({ timeout: 0 })).toBe('m33'); // a plain get needs no entry
  });

  it('three consumer processes hold views at once; the room comes back only when the oldest view is released', async () => {
    const name = uniqueName('zq');
    const q = scratch.add(Queue.create(name, { capacity: 256 }));
    const payload = (c: string) => c.repeat(64); // a 72-byte frame: three fill 216 of 256 bytes
    for (const c of 'abc') q.putSync(payload(c));
    const holders = [];
    for (const c of 'abc') {
      const holder = startFixture('channel-peer.mjs', ['view-hold', name]);
      holders.push(holder);
      expect(await holder.line()).toBe(`holding ${payload(c)}`); // each took the next while the others hold theirs
    }
    expect(q.qsize()).toBe(0);
    expect(() => q.getSync({ timeout: 0 })).toThrow(expect.objectContaining({ code: 'ERR_SHM_QUEUE_EMPTY' }));
    expectCode(() => q.putNowait(payload('d')), 'ERR_SHM_QUEUE_FULL');
    for (const holder of [holders[2], holders[1]]) {
      holder.send('release');
      expect(await holder.line((l) => l.startsWith('released'))).toBe('released, bytes 0');
      expectCode(() => q.putNowait(payload('d')), 'ERR_SHM_QUEUE_FULL'); // the oldest (a) still holds the room of all three
    }
    holders[0].send('release');
    await holders[0].line((l) => l.startsWith('released'));
    q.putNowait(payload('d'));
    expect(q.getSync({ timeout: 0 })).toBe(payload('d'));
    for (const holder of holders) holder.send('exit');
    for (const holder of holders) expect((await holder.done).code).toBe(0);
  });

  it('a consumer killed while it holds a view leaves the message for the next consumer', async () => {
    const name = uniqueName('zq');
    const q = scratch.add(Queue.create(name, { capacity: 4096 }));
    q.putSync('precious');
    q.putSync('next');
    const holder = startFixture('channel-peer.mjs', ['view-hold', name]);
    expect(await holder.line()).toBe('holding precious');
    holder.child.kill('SIGKILL');
    await holder.done;
    expect(q.getSync({ timeout: 5_000 })).toBe('precious');
    expect(q.getSync({ timeout: 0 })).toBe('next');
  });

  it('of two consumers holding views, the one SIGKILLed has its message delivered again, to a view too; the other keeps its own', async () => {
    const name = uniqueName('zq');
    const q = scratch.add(Queue.create(name, { capacity: 4096 }));
    for (const m of ['lost', 'kept', 'later']) q.putSync(m);
    const doomed = startFixture('channel-peer.mjs', ['view-hold', name]);
    expect(await doomed.line()).toBe('holding lost');
    const keeper = startFixture('channel-peer.mjs', ['view-hold', name]);
    expect(await keeper.line()).toBe('holding kept');
    doomed.child.kill('SIGKILL');
    await doomed.done;
    const again = q.getViewSync({ timeout: 5_000 });
    expect(Buffer.from(again.bytes).toString()).toBe('lost');
    again.release();
    expect(q.getSync({ timeout: 0 })).toBe('later');
    keeper.send('release');
    expect(await keeper.line((l) => l.startsWith('released'))).toBe('released, bytes 0');
    keeper.send('exit');
    expect((await keeper.done).code).toBe(0);
    q.putSync('room is back');
    expect(q.getSync({ timeout: 0 })).toBe('room is back');
    expect(q.qsize()).toBe(0);
  });

  it('3 consumers mixing gets and views held by two handles each, released out of order, over a small ring: each message once, intact', async () => {
    const name = uniqueName('zq');
    const q = scratch.add(Queue.create(name, { capacity: 2048 }));
    const consumers = [0, 1, 2].map(() => runFixture('channel-peer.mjs', ['mixed-consume', name]));
    const producers = await Promise.all([1, 2].map((id) => runFixture('channel-peer.mjs', ['reserve-put', name, String(id), '3000'])));
    for (const run of producers) expect(run.stdout.trim(), run.stderr).toBe('produced');
    for (let i = 0; i < 3; i++) await q.put('STOP');
    const seen: Record<string, number[]> = { 1: [], 2: [] };
    for (const run of await Promise.all(consumers)) {
      expect(run.code, run.stderr).toBe(0);
      const { seqs, bad } = JSON.parse(run.stdout);
      expect(bad).toBe(0);
      for (const [id, list] of Object.entries(seqs as Record<string, number[]>)) seen[id].push(...list);
    }
    for (const id of ['1', '2']) expect(seen[id].sort((a, b) => a - b)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(q.qsize()).toBe(0);
  }, 60_000);

  it('2 producers writing in place and 2 consumers reading through views: each message once, in order per producer', async () => {
    const name = uniqueName('zq');
    const q = scratch.add(Queue.create(name, { capacity: 8192 }));
    const consumers = [0, 1].map(() => runFixture('channel-peer.mjs', ['view-consume', name]));
    const producers = await Promise.all([1, 2].map((id) => runFixture('channel-peer.mjs', ['reserve-put', name, String(id), '2000'])));
    for (const run of producers) expect(run.stdout.trim(), run.stderr).toBe('produced');
    await q.put('STOP');
    await q.put('STOP');
    const seen: Record<string, number[]> = { 1: [], 2: [] };
    for (const run of await Promise.all(consumers)) {
      expect(run.code, run.stderr).toBe(0);
      const { seqs, bad } = JSON.parse(run.stdout);
      expect(bad).toBe(0);
      for (const [id, list] of Object.entries(seqs as Record<string, number[]>)) {
        expect(list).toEqual([...list].sort((a, b) => a - b)); // in order within a consumer
        seen[id].push(...list);
      }
    }
    for (const id of ['1', '2']) expect(seen[id].sort((a, b) => a - b)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  }, 60_000);
});

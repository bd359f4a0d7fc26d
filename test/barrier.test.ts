import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Barrier, SharedMemory } from '../dist/index.js';
import { expectCode, rejection, runFixture, Scratch, startFixture, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

function twoParties(): [Barrier, Barrier] {
  const name = uniqueName('br');
  return [scratch.add(Barrier.create(name, 2)), scratch.add(Barrier.open(name))];
}

describe('Barrier', () => {
  it('passes when all parties arrive, with distinct indexes, and can be used again', async () => {
    const [a, b] = twoParties();
    for (let round = 0; round < 3; round++) {
      const indexes = await Promise.all([a.wait(), b.wait()]);
      expect(indexes.sort()).toEqual([0, 1]);
    }
    expect(a.parties).toBe(2);
    expect(a.nWaiting).toBe(0);
  });

  it('a timed-out wait breaks the barrier for everyone (Python rule), until reset()', async () => {
    const [a, b] = twoParties();
    expect((await rejection(a.wait({ timeout: 20 }))).code).toBe('ERR_SHM_BROKEN_BARRIER');
    expect(b.broken).toBe(true);
    // A later lone waiter does not pass a 2-party barrier: it is told the barrier is broken.
    expect((await rejection(b.wait({ timeout: 1000 }))).code).toBe('ERR_SHM_BROKEN_BARRIER');
    b.reset();
    expect(a.broken).toBe(false);
    expect((await Promise.all([a.wait(), b.wait()])).sort()).toEqual([0, 1]);
  });

  it('an aborted wait breaks the barrier: the party that waited with it gets ERR_SHM_BROKEN_BARRIER', async () => {
    const name = uniqueName('bra');
    const third = scratch.add(Barrier.create(name, 3));
    const other = scratch.add(Barrier.open(name));
    const controller = new AbortController();
    const aborted = third.wait({ signal: controller.signal });
    const waiting = other.wait();
    await sleep(20);
    controller.abort();
    expect((await rejection(aborted)).name).toBe('AbortError');
    expect((await rejection(waiting)).code).toBe('ERR_SHM_BROKEN_BARRIER');
    expect(third.broken).toBe(true);
    // The aborted party is not still counted: after reset, two arrivals do not pass a 3-party barrier.
    third.reset();
    expect(third.nWaiting).toBe(0);
    expect((await rejection(Promise.all([third.wait({ timeout: 30 }), other.wait({ timeout: 1000 })]))).code).toBe('ERR_SHM_BROKEN_BARRIER');
  });

  it('closing a handle while it waits breaks the barrier for the others', async () => {
    const name = uniqueName('brc');
    const a = scratch.add(Barrier.create(name, 3));
    const b = Barrier.open(name);
    const waitingA = a.wait();
    const waitingB = b.wait();
    await sleep(20);
    b.close();
    expect((await rejection(waitingB)).code).toBe('ERR_SHM_CLOSED');
    expect((await rejection(waitingA)).code).toBe('ERR_SHM_BROKEN_BARRIER');
  });

  it('abort() breaks current and later waits; sync waits behave the same', async () => {
    const [a, b] = twoParties();
    const waiting = a.wait();
    await sleep(10);
    b.abort();
    expect((await rejection(waiting)).code).toBe('ERR_SHM_BROKEN_BARRIER');
    expectCode(() => a.waitSync({ timeout: 10 }), 'ERR_SHM_BROKEN_BARRIER');
    b.reset();
    expectCode(() => a.waitSync({ timeout: 10 }), 'ERR_SHM_BROKEN_BARRIER'); // its own timeout broke it
    expect(b.broken).toBe(true);
  });
});

describe('Barrier and its lock', () => {
  it("wait({ timeout }) keeps its timeout while a live handle holds the barrier's lock; the party never arrives", async () => {
    const name = uniqueName('brl');
    const [a, b] = [scratch.add(Barrier.create(name, 2)), scratch.add(Barrier.open(name))];
    // Hold the barrier's own lock word (offset 64) with the token of a live handle, as a stuck process would.
    const raw = new SharedMemory(name);
    const lockWord = new Int32Array(raw.buffer, 64, 1);
    Atomics.store(lockWord, 0, (a as unknown as { typed: { token: number } }).typed.token);
    try {
      expect((await rejection(b.wait({ timeout: 100 }))).code).toBe('ERR_SHM_TIMEOUT');
      expectCode(() => b.waitSync({ timeout: 100 }), 'ERR_SHM_TIMEOUT');
      expect(Atomics.load(new Int32Array(raw.buffer, 128, 1), 0)).toBe(0); // nobody counted
    } finally {
      Atomics.store(lockWord, 0, 0);
      raw.close();
    }
    expect((await Promise.all([a.wait(), b.wait()])).sort()).toEqual([0, 1]);
  });
});

describe('Barrier across processes', () => {
  it('a party SIGKILLed while it waits breaks the barrier: the last to arrive does not pass alone', async () => {
    const name = uniqueName('brk');
    const barrier = scratch.add(Barrier.create(name, 2));
    const party = startFixture('sync-peer.mjs', ['barrier-wait', name]);
    await party.line((line) => line === 'arriving');
    while (barrier.nWaiting < 1) await sleep(5);
    party.child.kill('SIGKILL');
    await party.done;
    expect((await rejection(barrier.wait({ timeout: 5000 }))).code).toBe('ERR_SHM_BROKEN_BARRIER');
    expect(barrier.broken).toBe(true);
  });

  it('a party SIGKILLed while others wait breaks the barrier for them within a slice', async () => {
    const name = uniqueName('brw');
    const barrier = scratch.add(Barrier.create(name, 3));
    const party = startFixture('sync-peer.mjs', ['barrier-wait', name]);
    await party.line((line) => line === 'arriving');
    while (barrier.nWaiting < 1) await sleep(5);
    const waiting = rejection(barrier.wait());
    while (barrier.nWaiting < 2) await sleep(5);
    party.child.kill('SIGKILL');
    await party.done;
    // No timeout of its own (one would break it too): a wait still pending after 5 s has missed the death.
    const outcome = await Promise.race([waiting.then((err) => err.code), sleep(5000).then(() => 'still waiting')]);
    expect(outcome).toBe('ERR_SHM_BROKEN_BARRIER');
  });

  it('Barrier: 3 processes pass together with distinct arrival indexes', async () => {
    const name = uniqueName('bar');
    const barrier = Barrier.create(name, 3);
    try {
      const runs = await Promise.all([0, 1, 2].map(() => runFixture('sync-peer.mjs', ['barrier', name])));
      expect(runs.map((r) => Number(r.stdout.trim())).sort()).toEqual([0, 1, 2]);
      expect(barrier.nWaiting).toBe(0);
    } finally {
      barrier.close();
      barrier.unlink();
    }
  });
});

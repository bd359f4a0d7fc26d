// What another program can do to a shmkit object's segment, and what shmkit
// does about it: every change made while no handle has it mapped (garbage,
// lying words, truncation) is a typed error or a working object; a segment
// shrunk under a live mapping is the one SIGBUS left (README, "Caveats").
import { truncateSync } from 'node:fs';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Condition, Lock, Array as SharedArray, SharedMemory } from '../dist/index.js';
import { expectCode, runFixture, runFixtureWithin, Scratch, startFixture, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const onLinux = process.platform === 'linux';
const SEEDS = [1, 2, 3, 4];
const TRIALS_PER_KIND = 300;
const RING_WRITES = 1000;
/** A process of the ring campaign that has not ended by then hung. */
const HANG_MS = 45_000;

describe('foreign changes to a segment', () => {
  it(`${SEEDS.length * TRIALS_PER_KIND} seeded changes per kind, each opened and used: a working object or a documented ShmError`, async () => {
    const runs = await Promise.all(
      SEEDS.map((seed) => runFixture('foreign.mjs', [`${inject('namePrefix')}fc${seed}_`, String(seed), String(TRIALS_PER_KIND)])),
    );
    let trials = 0;
    let opened = 0;
    let refused = 0;
    for (const run of runs) {
      expect(run.signal, run.stderr).toBeNull();
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout);
      expect(result.findings).toEqual([]);
      trials += result.trials;
      opened += result.opened;
      refused += result.refused;
    }
    expect(opened + refused).toBe(trials);
    expect(opened).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    console.log(`foreign changes: ${trials} trials, ${opened} opened and worked, ${refused} refused with a documented ShmError`);
  });

  it(`${SEEDS.length * RING_WRITES} random writes into the ring words of open channels, each followed by traffic: the ring always comes back (no crash, no hang)`, async () => {
    const runs = await Promise.all(
      SEEDS.map((seed) => runFixtureWithin('foreign.mjs', [`${inject('namePrefix')}fr${seed}_`, String(seed), String(RING_WRITES), 'rings'], HANG_MS)),
    );
    let reports = 0;
    for (const run of runs) {
      expect(run.signal, `crashed or hung: ${run.stderr}`).toBeNull();
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout);
      expect(result.findings).toEqual([]);
      expect(result.writes).toBe(RING_WRITES);
      reports += result.reports;
    }
    console.log(`ring words: ${SEEDS.length * RING_WRITES} random writes, ${reports} reported as ERR_SHM_FORMAT, the ring back after each`);
  });

  it('a lock word with no holder bits but others set (a foreign write) is taken over, not waited on for ever', () => {
    const name = uniqueName('fl');
    Lock.create(name).close();
    const raw = new SharedMemory(name);
    new Int32Array(raw.buffer)[16] = 0x40000000; // lock_word: WAITERS, holder 0
    raw.close();
    const lock = scratch.add(Lock.open(name));
    expect(lock.acquireSync({ timeout: 0 })).toBe(true);
    expect(lock.ownerDied).toBe(true);
    lock.release();
  });

  it("an object whose dtype is not its kind's is ERR_SHM_FORMAT (a Condition of float32)", () => {
    const name = uniqueName('fd');
    Condition.create(name).close();
    const raw = new SharedMemory(name);
    new Uint8Array(raw.buffer)[7] = 9; // dtype code of float32
    raw.close();
    scratch.add({ close() {}, unlink: () => SharedMemory.unlink(name) });
    expect(expectCode(() => Condition.open(name), 'ERR_SHM_FORMAT').message).toMatch(/Condition of float32/);
  });

  it.runIf(onLinux)('a segment shrunk under a live mapping crashes the reader with SIGBUS (documented, the one left)', async () => {
    const name = uniqueName('fs');
    scratch.add(SharedArray.create(name, 'float64', 4096));
    const reader = startFixture('typed-peer.mjs', ['read-later', name]);
    await reader.line((l) => l === 'mapped');
    truncateSync(`/dev/shm/${name}`, 128);
    reader.send('read');
    const result = await reader.done;
    expect(result.signal).toBe('SIGBUS');
  });
});

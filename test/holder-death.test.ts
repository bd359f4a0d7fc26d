// A lock whose holder is SIGKILLed is taken over within the wait slice, and
// the new holder is told (ownerDied). 200 trials here; the long soak is
// bench/holder-death-soak.mjs.
import { describe, expect, it } from 'vitest';
import { Lock } from '../dist/index.js';
import { startFixture, uniqueName } from './helpers.js';

const TRIALS = 200;
const LANES = 4;

async function killHolderOnce(lock: Lock, name: string): Promise<{ ownerDied: boolean }> {
  const holder = startFixture('sync-peer.mjs', ['hold', name]);
  await holder.line((l) => l === 'held');
  expect(lock.tryAcquire()).toBe(false);
  holder.child.kill('SIGKILL');
  const acquired = await lock.acquire({ timeout: 2000 });
  expect(acquired).toBe(true); // within the 2 s: taken over, not timed out
  const ownerDied = lock.ownerDied;
  lock.release();
  expect(lock.ownerDied).toBe(false);
  expect((await holder.done).signal).toBe('SIGKILL');
  return { ownerDied };
}

describe('holder death', () => {
  it(`a SIGKILLed holder's lock is taken over within 2 s with ownerDied (${TRIALS} trials)`, async () => {
    const lanes = Array.from({ length: LANES }, async () => {
      const name = uniqueName('death');
      const lock = Lock.create(name);
      const results = [];
      try {
        for (let i = 0; i < TRIALS / LANES; i++) results.push(await killHolderOnce(lock, name));
      } finally {
        lock.close();
        lock.unlink();
      }
      return results;
    });
    const results = (await Promise.all(lanes)).flat();
    expect(results).toHaveLength(TRIALS);
    expect(results.filter((r) => !r.ownerDied)).toEqual([]);
  }, 180_000);

  it('a holder killed at a random point of an acquire/release loop never leaves the lock stuck', async () => {
    const name = uniqueName('churn');
    const lock = Lock.create(name);
    let tookOver = 0;
    try {
      // At least 20 kills, and on until 3 of them landed while the lock was held
      // (at most 100): both cases must leave the lock free to take.
      for (let i = 0; i < 100 && (i < 20 || tookOver < 3); i++) {
        const churner = startFixture('sync-peer.mjs', ['churn', name]);
        await churner.line((l) => l === 'running');
        // Kill only once the loop is seen running (under a loaded CI machine it may start late).
        for (const until = Date.now() + 5000; !lock.locked() && Date.now() < until; ) await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
        churner.child.kill('SIGKILL');
        await churner.done;
        expect(await lock.acquire({ timeout: 2000 })).toBe(true);
        if (lock.ownerDied) tookOver++;
        lock.release();
      }
    } finally {
      lock.close();
      lock.unlink();
    }
    expect(tookOver).toBeGreaterThan(0);
  }, 120_000);
});

import { describe, expect, it } from 'vitest';
import { Array as SharedArray, Value } from '../dist/index.js';
import { runFixture, uniqueName } from './helpers.js';

describe('Value and Array across unrelated processes', () => {
  it('process B opens a 1,000,000-element float64 Array by name alone and sees every value', async () => {
    const name = uniqueName('arr');
    const arr = SharedArray.create(name, 'float64', 1_000_000);
    try {
      const values = arr.array;
      for (let i = 0; i < values.length; i++) values[i] = i * 0.5;
      const run = await runFixture('typed-peer.mjs', ['check-array', name]);
      expect(run.stderr).toBe('');
      expect(run.stdout.trim()).toBe('ok 1000000 float64');
      values[999_999] = -1; // the check can fail
      expect((await runFixture('typed-peer.mjs', ['check-array', name])).stdout.trim()).toBe('mismatch at 999999: -1');
    } finally {
      arr.close();
      arr.unlink();
    }
  });

  async function count(how: 'locked' | 'unlocked', n: number): Promise<bigint> {
    const name = uniqueName('cnt');
    const ctlName = uniqueName('ctl');
    const counter = Value.create(name, 'int64', 0n);
    const ctl = SharedArray.create(ctlName, 'int32', 1);
    try {
      const runs = await Promise.all([0, 1].map(() => runFixture('typed-peer.mjs', ['count', name, ctlName, String(n), how])));
      for (const run of runs) expect(run.stdout.trim(), run.stderr).toBe('done');
      return counter.value;
    } finally {
      for (const o of [counter, ctl]) {
        o.close();
        o.unlink();
      }
    }
  }

  it('two processes x 100,000 increments under value.lock: the total is exact', async () => {
    expect(await count('locked', 100_000)).toBe(200_000n);
  });

  it('the same without the lock loses updates (so the locked test can fail)', async () => {
    let total = 200_000n;
    for (let attempt = 0; attempt < 3 && total === 200_000n; attempt++) total = await count('unlocked', 100_000);
    expect(total).toBeLessThan(200_000n);
  });

  it('8 processes race to create one name: exactly one wins, the others open the ready object', async () => {
    const name = uniqueName('race');
    const start = String(Date.now() + 400);
    const runs = await Promise.all(Array.from({ length: 8 }, () => runFixture('typed-peer.mjs', ['race', name, start, '200000'])));
    try {
      const outcomes = runs.map((r) => r.stdout.trim() || r.stderr);
      expect(outcomes.filter((o) => o === 'created intact')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'opened intact')).toHaveLength(7);
    } finally {
      SharedArray.unlink(name);
    }
  });
});

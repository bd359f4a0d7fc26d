// The fuzz suite: 12,000 calls of public constructors and methods, each with
// one argument that must be refused (test/fixtures/fuzz.mjs), in batches of
// separate processes with fixed seeds. Every call must end in a ShmError with
// a documented code: no crash, no hang, no TypeError, no call that succeeds.
import { describe, expect, it } from 'vitest';
import { startFixture, uniqueName } from './helpers.js';

const BATCHES = 8;
const CALLS = 1500;
const HANG_MS = 60_000;

describe('fuzz: invalid arguments everywhere', () => {
  it(`${BATCHES * CALLS} calls in ${BATCHES} processes end in documented ShmErrors (0 crashes, 0 hangs)`, async () => {
    const reports = await Promise.all(
      Array.from({ length: BATCHES }, async (_, batch) => {
        const run = startFixture('fuzz.mjs', [uniqueName(`fz${batch}_`), String(batch + 1), String(CALLS)]);
        const watchdog = setTimeout(() => run.child.kill('SIGKILL'), HANG_MS);
        const result = await run.done;
        clearTimeout(watchdog);
        expect(result.signal, `batch ${batch + 1} crashed or hung: ${result.stderr}`).toBeNull();
        expect(result.stderr).toBe('');
        return JSON.parse(result.stdout) as { calls: number; ok: number; findings: string[] };
      }),
    );
    const calls = reports.reduce((sum, r) => sum + r.calls, 0);
    const ok = reports.reduce((sum, r) => sum + r.ok, 0);
    console.log(`fuzz: ${calls} calls, ${ok} refused with a documented ShmError, 0 crashes, 0 hangs`);
    expect(reports.flatMap((r) => r.findings)).toEqual([]);
    expect(ok).toBe(calls);
  });
});

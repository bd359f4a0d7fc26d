// Thousands of pending async waits on one object drain in linear time once
// it is released, and cost next to nothing while they wait (bench/drain.mjs
// runs each scenario in a fresh process and reports both; bench/waits.mjs
// prints the same figures). The limits here only catch a drain gone
// quadratic or wedged (before: 20,000 lock acquires did not drain in 30 s,
// and 3,000 pending ones took most of a CPU while nothing happened).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, start, uniqueName } from './helpers.js';

const drain = join(root, 'bench', 'drain.mjs');
const DRAIN_LIMIT_MS = 10_000;
const IDLE_CPU_LIMIT_PERCENT = 50;

interface Report {
  drainMs: number;
  idleCpuPercent: number;
  backend: string;
}

async function run(args: string[], env: Record<string, string>): Promise<Report> {
  const result = await start(process.execPath, ['--expose-gc', drain, ...args, uniqueName('drain')], { env: { DRAIN_IDLE_MS: '300', ...env } }).done;
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Report;
}

const scenarios: [string, string[], boolean][] = [
  ['20,000 Lock acquires on one handle', ['lock', '20000', '1', '1'], true],
  ['20,000 Lock acquires over 100 handles', ['lock', '20000', '100', '1'], true],
  ['20,000 Lock acquires in 4 processes x 5,000', ['lock', '20000', '4', '4'], true],
  ['20,000 RLock acquires over 100 handles', ['rlock', '20000', '100', '1'], false],
  ['1,000 Condition waiters on 1,000 handles, one notifyAll', ['condition', '1000', '1000', '1'], true],
  ['2,000 Condition waiters, one notify(1) each', ['notify-one', '2000', '2000', '1'], false],
  ['5,000 Barrier parties over 100 handles', ['barrier', '5000', '100', '1'], true],
  ['20,000 Queue gets over 100 handles', ['queue', '20000', '100', '1'], true],
];

const backends = [
  ['io_uring (where the kernel allows it)', {}],
  ['the waiter thread', { SHMKIT_WAIT_BACKEND: 'thread' }],
] as const;

describe.each(backends)('thousands of pending waits on %s', (label, env) => {
  const onThread = label === 'the waiter thread';
  for (const [title, args, alsoOnThread] of scenarios) {
    it.skipIf(onThread && !alsoOnThread)(`${title}: drain once released, idle while pending`, async () => {
      const report = await run(args, env);
      expect(report.drainMs).toBeLessThan(DRAIN_LIMIT_MS);
      expect(report.idleCpuPercent).toBeLessThan(IDLE_CPU_LIMIT_PERCENT);
    });
  }
});

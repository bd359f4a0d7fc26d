// The long holder-death soak (issue 4): TRIALS times, a separate process
// takes a Lock and is SIGKILLed; this process must take the lock over within
// 2 s and be told ownerDied. Prints the takeover latency distribution.
//   node bench/holder-death-soak.mjs [TRIALS=1000]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lock } from 'shmkit';
import { median } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const holderScript = join(here, '..', 'test', 'fixtures', 'sync-peer.mjs');
const trials = Number(process.argv[2] ?? 1000);
const name = `soak_${randomBytes(4).toString('hex')}`;
const lock = Lock.create(name);
const latencies = [];
let failures = 0;

function startHolder() {
  const child = spawn(process.execPath, [holderScript, 'hold', name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const held = new Promise((resolve) => child.stdout.once('data', resolve));
  const exited = new Promise((resolve) => child.once('close', resolve));
  return { child, held, exited };
}

try {
  for (let i = 0; i < trials; i++) {
    const holder = startHolder();
    await holder.held;
    holder.child.kill('SIGKILL');
    const t0 = performance.now();
    const ok = await lock.acquire({ timeout: 2000 });
    latencies.push(performance.now() - t0);
    if (!ok || !lock.ownerDied) {
      failures++;
      console.error(`trial ${i}: acquired=${ok} ownerDied=${lock.ownerDied}`);
    }
    if (ok) lock.release();
    await holder.exited;
    if ((i + 1) % 100 === 0) console.log(`${i + 1} trials, ${failures} failures`);
  }
} finally {
  lock.close();
  lock.unlink();
}
latencies.sort((a, b) => a - b);
console.log(
  `${trials} SIGKILL trials: ${failures} failures; takeover latency median ${median(latencies).toFixed(1)} ms, ` +
    `p99 ${latencies[Math.floor(latencies.length * 0.99)].toFixed(1)} ms, max ${latencies.at(-1).toFixed(1)} ms`,
);
process.exitCode = failures ? 1 : 0;

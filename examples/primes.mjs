// Counting primes below 4,000,000: one process, then a Pool of one worker
// per core. Tasks are function names from a module, as in Python, where
// functions must be importable by the workers.
//   node examples/primes.mjs
import { availableParallelism } from 'node:os';
import { Pool } from 'shmkit';
import { countPrimes } from './tasks/primes.mjs';

const LIMIT = 4_000_000;
const ranges = Array.from({ length: 32 }, (_, i) => [(i * LIMIT) / 32, ((i + 1) * LIMIT) / 32]);
const sum = (counts) => counts.reduce((a, b) => a + b, 0);

let t0 = performance.now();
const alone = sum(ranges.map(countPrimes));
const oneProcess = performance.now() - t0;
console.log(`1 process:   ${alone} primes in ${oneProcess.toFixed(0)} ms`);

const pool = new Pool(new URL('./tasks/primes.mjs', import.meta.url));
try {
  await pool.map('countPrimes', [[0, 10]]); // let the workers start before timing
  t0 = performance.now();
  const together = sum(await pool.map('countPrimes', ranges, { chunksize: 1 }));
  const pooled = performance.now() - t0;
  const speedup = (oneProcess / pooled).toFixed(2);
  console.log(`${pool.processes} processes: ${together} primes in ${pooled.toFixed(0)} ms (${speedup}x on ${availableParallelism()} cores)`);
} finally {
  await pool.close();
}

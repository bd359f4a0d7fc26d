// Every worker of a Pool fills its part of one shared Float64Array: the
// Array travels by name, its memory is shared, nothing is copied back.
//   node examples/fill-shared.mjs
import { Pool, Array as SharedArray } from 'shmkit';

const name = `sines-${process.pid}`;
const N = 1_000_000;
const sines = SharedArray.create(name, 'float64', N);
const pool = new Pool(new URL('./tasks/primes.mjs', import.meta.url));
try {
  const parts = Array.from({ length: 8 }, (_, i) => [name, (i * N) / 8, ((i + 1) * N) / 8]);
  const written = await pool.map('fillSines', parts, { chunksize: 1 });
  console.log(`${written.reduce((a, b) => a + b)} elements written by ${pool.processes} processes; sines.array[12345] = ${sines.array[12345].toFixed(6)}`);
} finally {
  await pool.close();
  sines.close();
  sines.unlink();
}

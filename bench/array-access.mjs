// Element read/write through shmkit's Array.array against a local
// Float64Array, same code, same run. Goal (issue 3): ratio >= 0.95; anything
// slower means a wrapper sits in the hot path.
//   node bench/array-access.mjs [--json]
import { randomBytes } from 'node:crypto';
import { SharedArray } from 'shmkit';
import { fmt, interleave, machine, stats } from './lib.mjs';

const LENGTH = 1 << 20;
const ROUNDS = 31;

// One function per operation, shared by both contestants: if the shared
// array were a different kind of object, these would deoptimise or slow down.
function sum(a) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}
function write(a, k) {
  for (let i = 0; i < a.length; i++) a[i] = i * k;
}

export function run() {
  const name = `bench_${randomBytes(4).toString('hex')}`;
  const shared = SharedArray.create(name, 'float64', LENGTH);
  try {
    const sharedArray = shared.array;
    const local = new Float64Array(LENGTH);
    let sink = 0;
    // Warm up both through the same functions.
    for (let i = 0; i < 5; i++) {
      write(local, i);
      write(sharedArray, i);
      sink += sum(local) + sum(sharedArray);
    }
    const reads = interleave({ local: () => (sink += sum(local)), shared: () => (sink += sum(sharedArray)) }, ROUNDS, LENGTH);
    const writes = interleave({ local: () => write(local, 3), shared: () => write(sharedArray, 3) }, ROUNDS, LENGTH);
    if (Number.isNaN(sink)) console.log(sink);
    const result = {};
    for (const [op, samples] of Object.entries({ read: reads, write: writes })) {
      const local = stats(samples.local);
      const shared = stats(samples.shared);
      // Ratio of rates (shared / local): 1.0 means as fast as a local array.
      result[op] = { local, shared, ratio: local.median / shared.median };
    }
    return result;
  } finally {
    shared.close();
    shared.unlink();
  }
}

export function print(result) {
  console.log(`Array element access, ${LENGTH} float64, median of ${ROUNDS} interleaved runs (${machine()})`);
  console.log('op     local Float64Array     shmkit Array.array     ratio (shared rate / local rate, goal >= 0.95)');
  for (const [op, r] of Object.entries(result)) {
    console.log(
      `${op.padEnd(6)} ${`${fmt(r.local.median)}/elem [${fmt(r.local.min)}..${fmt(r.local.max)}]`.padEnd(22)} ${`${fmt(r.shared.median)}/elem [${fmt(r.shared.min)}..${fmt(r.shared.max)}]`.padEnd(22)} ${r.ratio.toFixed(3)}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = run();
  if (process.argv.includes('--json')) console.log(JSON.stringify(result));
  else print(result);
}

// The room a SharedMap keeps after churn: 1 M random sets and deletes of
// values of mixed sizes (16 B to 6 KB, most of them small) over 10,000 keys,
// then its stats. Not a timing: it measures how much of the heap is live
// data, how much sits in free lists (fragmentation) and whether any is lost.
//   node bench/map-room.mjs [operations]
import { SharedMap } from '../dist/index.js';

const KEYS = 10_000;
const DELETE_SHARE = 0.3;

/** A fixed sequence (a linear congruential generator), so every run does the same operations. */
function sequence(seed) {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
}

export async function run(progress = () => {}, ops = 1_000_000) {
  const name = `shmkit-bench-room-${process.pid}`;
  const map = SharedMap.create(name, { size: 1 << 20, unlinkOnExit: true });
  try {
    const random = sequence(12345);
    for (let i = 0; i < ops; i++) {
      const key = `k${Math.floor(random() * KEYS)}`;
      if (random() < DELETE_SHARE) map.delete(key);
      else map.set(key, 'x'.repeat(Math.floor(16 + random() ** 3 * 6000)));
      if (i % 250_000 === 249_999) progress(`mapRoom: ${i + 1} operations`);
    }
    return { ops, keys: KEYS, ...map.stats() };
  } finally {
    map.close();
    SharedMap.unlink(name);
  }
}

export function print(r) {
  const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const ofLive = (bytes) => `${((bytes / r.liveBytes) * 100).toFixed(1)}% of live`;
  console.log(`SharedMap room after ${r.ops.toLocaleString('en')} random sets and deletes (values 16 B .. 6 KB, ${r.keys.toLocaleString('en')} keys)`);
  console.log(`  entries ${r.entries}, file ${mib(r.fileBytes)}, heap handed out ${mib(r.heapBytes)}`);
  console.log(`  live (entries and index) ${mib(r.liveBytes)}; free lists ${mib(r.freeBytes)} (${ofLive(r.freeBytes)})`);
  console.log(`  neither live nor free (lost): ${r.heapBytes - r.freeBytes - r.liveBytes} bytes`);
}

if (import.meta.url === `file://${process.argv[1]}`) print(await run((line) => console.error(line), Number(process.argv[2] ?? 1_000_000)));

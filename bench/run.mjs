// `npm run bench`: runs every benchmark, printing progress as it goes and each
// table when it is done. Results go to bench/out/ (not tracked); with --save
// they go to bench/results/ (the files the README shows), too.
//   npm run bench              npm run bench -- --save
//   npm run bench -- waits     (only the benchmarks named; with --save, the
//                               others' saved results are kept, each with its date)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as arrayAccess from './array-access.mjs';
import * as channels from './channels.mjs';
import { machine } from './lib.mjs';
import * as lock from './lock.mjs';
import * as map from './map.mjs';
import * as mapCluster from './map-cluster.mjs';
import * as mapRoom from './map-room.mjs';
import * as messages from './messages.mjs';
import * as pool from './pool.mjs';
import * as processes from './process.mjs';
import * as waits from './waits.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const save = args.includes('--save');
const all = { waits, channels, messages, lock, arrayAccess, pool, process: processes, map, mapCluster, mapRoom };
const chosen = args.filter((a) => !a.startsWith('--'));
const unknown = chosen.filter((name) => !(name in all));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(all).join(', ')}`);
  process.exit(2);
}

const results = { machine: machine(), date: new Date().toISOString(), benchmarks: {} };
const started = performance.now();
const progress = (line) => console.error(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${line}`);

for (const [name, bench] of Object.entries(all)) {
  if (chosen.length && !chosen.includes(name)) continue;
  progress(`${name}: starting`);
  const result = await bench.run(progress);
  bench.print(result);
  console.log();
  results.benchmarks[name] = result;
}

const folders = [join(here, 'out'), ...(save ? [join(here, 'results')] : [])];
for (const folder of folders) {
  mkdirSync(folder, { recursive: true });
  const file = join(folder, 'latest.json');
  let written = results;
  if (chosen.length && existsSync(file)) {
    // Only some benchmarks ran: keep the others' results, and the date each was measured on.
    const before = JSON.parse(readFileSync(file, 'utf8'));
    const dates = Object.fromEntries(Object.keys(before.benchmarks).map((name) => [name, before.dates?.[name] ?? before.date]));
    for (const name of Object.keys(results.benchmarks)) dates[name] = results.date;
    written = { ...results, benchmarks: { ...before.benchmarks, ...results.benchmarks }, dates };
  }
  writeFileSync(file, `${JSON.stringify(written, null, 2)}\n`);
  if (results.benchmarks.channels) writeFileSync(join(folder, 'channels.svg'), channels.svg(results.benchmarks.channels));
}
console.log(`results written to ${folders.map((f) => `bench/${f.split('/').pop()}/`).join(' and ')}`);

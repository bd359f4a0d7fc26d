// `npm run bench`: runs every benchmark, prints its table, and writes the
// results to bench/results/latest.json and the chart to bench/results/channels.svg.
//   npm run bench
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as arrayAccess from './array-access.mjs';
import * as lock from './lock.mjs';
import * as channels from './channels.mjs';
import { machine } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const results = { machine: machine(), date: new Date().toISOString(), benchmarks: {} };

for (const [name, bench] of Object.entries({ channels, lock, arrayAccess })) {
  const result = await bench.run();
  bench.print(result);
  console.log();
  results.benchmarks[name] = result;
}

mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(here, 'results', 'channels.svg'), channels.svg(results.benchmarks.channels));
console.log('results written to bench/results/latest.json and bench/results/channels.svg');

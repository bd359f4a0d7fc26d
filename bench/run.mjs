// `npm run bench`: runs every benchmark, prints its table, and writes the
// results to bench/results/latest.json.
//   npm run bench
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as arrayAccess from './array-access.mjs';
import * as lock from './lock.mjs';
import { machine } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const results = { machine: machine(), date: new Date().toISOString(), benchmarks: {} };

for (const [name, bench] of Object.entries({ arrayAccess, lock })) {
  const result = await bench.run();
  bench.print(result);
  console.log();
  results.benchmarks[name] = result;
}

mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log('results written to bench/results/latest.json');

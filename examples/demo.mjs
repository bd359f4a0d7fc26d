// `npm run demo`: runs writer.mjs and then reader.mjs as two separate node
// programs. They share nothing but the segment's name.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const name = `shmkit-demo-${process.pid}`;

for (const program of ['writer.mjs', 'reader.mjs']) {
  const run = spawnSync(process.execPath, [join(here, program), name], { stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
console.log('\nTry it by hand in two terminals:\n  node examples/writer.mjs my-numbers\n  node examples/reader.mjs my-numbers');

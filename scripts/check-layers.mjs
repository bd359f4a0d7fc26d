// The layer rule of lib/ (docs/design.md, "Layers"), checked by npm run lint:
// a folder imports only from folders of lower layers, so the dependency graph
// reads bottom-up: core <- sync <- channel <- map, memory <- pool, process.
// A new folder must be given its layer here.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib');

const LAYERS = { core: 0, sync: 1, channel: 2, map: 3, memory: 3, pool: 4, process: 5 };

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

/** The lib/ folder a path is in, or undefined for a file at lib/'s top (index.ts) or outside lib/. */
function folderOf(path) {
  const parts = relative(root, path).split('/');
  return parts.length > 1 && !parts[0].startsWith('..') ? parts[0] : undefined;
}

const problems = [];
for (const file of sources(root)) {
  const from = folderOf(file);
  if (from === undefined) continue;
  if (!(from in LAYERS)) {
    problems.push(`lib/${from}/ has no layer: add it to scripts/check-layers.mjs (and docs/design.md, "Layers")`);
    continue;
  }
  for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?from\s+'(\.[^']+)'/g)) {
    const to = folderOf(resolve(dirname(file), spec));
    if (to === undefined || to === from) continue;
    if (!(to in LAYERS) || LAYERS[to] >= LAYERS[from]) {
      problems.push(
        `${relative(join(root, '..'), file)} imports ${spec}: lib/${from}/ (layer ${LAYERS[from]}) may import only lower layers, and lib/${to}/ is layer ${LAYERS[to]}`,
      );
    }
  }
}

if (problems.length) {
  for (const problem of [...new Set(problems)]) console.error(`layers: ${problem}`);
  process.exit(1);
}

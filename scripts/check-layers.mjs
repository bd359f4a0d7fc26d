// The layer rules (docs/design.md, "Layers"), checked by npm run lint: a
// folder imports (lib/) or includes (native/) only from its own folder and
// folders of lower layers, so each dependency graph reads bottom-up:
//   lib/     core <- sync <- channel <- map, memory <- pool <- process
//   native/  core <- sys <- wait <- channel (addon.cc, on top, binds them all)
// A new folder must be given its layer here.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(repo, 'lib');

const LAYERS = { core: 0, sync: 1, channel: 2, map: 3, memory: 3, pool: 4, process: 5 };
const NATIVE_LAYERS = { core: 0, sys: 1, wait: 2, channel: 3 };

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

// native/: includes are written from native/ ("wait/doorbell.h").
const nativeRoot = join(repo, 'native');
for (const entry of readdirSync(nativeRoot, { withFileTypes: true })) {
  if (!entry.isDirectory()) continue;
  const from = entry.name;
  if (!(from in NATIVE_LAYERS)) {
    problems.push(`native/${from}/ has no layer: add it to scripts/check-layers.mjs (and docs/design.md, "Layers")`);
    continue;
  }
  for (const file of readdirSync(join(nativeRoot, from))) {
    for (const [, to] of readFileSync(join(nativeRoot, from, file), 'utf8').matchAll(/#include "([a-z_]+)\/[^"]+"/g)) {
      if (to !== from && !(NATIVE_LAYERS[to] < NATIVE_LAYERS[from])) {
        problems.push(`native/${from}/${file} includes from native/${to}/: native/${from}/ (layer ${NATIVE_LAYERS[from]}) may include only lower layers`);
      }
    }
  }
}

if (problems.length) {
  for (const problem of [...new Set(problems)]) console.error(`layers: ${problem}`);
  process.exit(1);
}

// npm pack / npm publish: never a tarball without a prebuilt binary for this
// platform (an `--ignore-scripts` install of it could not load, and one with
// scripts would need a compiler). A prebuild in prebuilds/<platform>-<arch>/
// newer than every native source is packed as it is (CI downloads the
// prebuild workflow's, or test:install has just built it); otherwise this
// runs `npm run prebuildify`, and if that fails says what to do instead.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = `${process.platform}-${process.arch}`;
const prebuilds = join(root, 'prebuilds', target);

/** Newest mtime (ms) of what the binary is compiled from: binding.gyp and every file under native/. */
function newestSource() {
  const sources = [join(root, 'binding.gyp')];
  for (const entry of readdirSync(join(root, 'native'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) sources.push(join(entry.parentPath ?? entry.path, entry.name));
  }
  return Math.max(...sources.map((f) => statSync(f).mtimeMs));
}

/** The prebuilds for this platform that are at least as new as the sources. */
function freshPrebuilds() {
  if (!existsSync(prebuilds)) return [];
  const newest = newestSource();
  return readdirSync(prebuilds).filter((f) => f.endsWith('.node') && statSync(join(prebuilds, f)).mtimeMs >= newest);
}

/** True if `tool` is on PATH. */
function onPath(tool) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Messages go to stderr: `npm pack --json` prints its JSON on stdout.
if (freshPrebuilds().length > 0) {
  console.error(`prepack: packing prebuilds/${target}/${freshPrebuilds().join(', ')}`);
} else {
  const compiler = ['c++', 'g++', 'clang++'].some(onPath) && onPath('make');
  if (compiler) {
    console.error(`prepack: no prebuilt binary for ${target} newer than native/: npm run prebuildify`);
    try {
      execFileSync('npm', ['run', 'prebuildify'], { cwd: root, stdio: ['ignore', process.stderr, 'inherit'] });
    } catch {
      // falls through to the check below
    }
  }
  if (freshPrebuilds().length === 0) {
    console.error(
      `prepack: FAIL: no prebuilt binary for ${target} in prebuilds/ newer than native/, and \`npm run prebuildify\` could not build one ` +
        '(it needs a C++ toolchain: g++ and make, or the Xcode command-line tools, and Python 3). ' +
        'Build it where a compiler is (`npm run prebuildify`), or download the prebuild workflow’s prebuilds/ into this clone, then pack again.',
    );
    process.exit(1);
  }
}

// The prebuilt-install test: build the prebuild, pack the tarball, install it
// into an empty folder with no compiler on PATH, and use the package there.
// Fails if the tarball lacks the prebuild (nothing could compile it), lacks
// dist/ or types, or carries tests.
//   npm run test:install            (SKIP_PREBUILDIFY=1 packs whatever prebuilds/ holds)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = `${process.platform}-${process.arch}`;
const work = mkdtempSync(join(tmpdir(), 'shmkit-install-'));

function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
}

function fail(message) {
  console.error(`prebuilt-install: FAIL: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

/** A PATH holding node, npm and sh only: no cc, c++, g++, make or python. */
function compilerFreePath() {
  const bin = join(work, 'bin');
  run('mkdir', [bin]);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(realpathSync(run('sh', ['-c', 'command -v npm']).trim()), join(bin, 'npm'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  for (const tool of ['cc', 'c++', 'g++', 'gcc', 'make', 'python3']) {
    try {
      run('sh', ['-c', `command -v ${tool}`], { env: { PATH: bin } });
      fail(`${tool} is still reachable on the hidden PATH`);
    } catch (err) {
      if (process.exitCode) throw err;
    }
  }
  return bin;
}

function checkTarball(files) {
  const has = (pattern) => files.some((f) => pattern.test(f));
  const required = {
    'dist/index.js': /^dist\/index\.js$/,
    'dist/index.d.ts (types)': /^dist\/index\.d\.ts$/,
    [`prebuilds/${target}/*.node`]: new RegExp(`^prebuilds/${target}/.+\\.node$`),
    'native/*.cc': /^native\/.+\.cc$/,
    'binding.gyp': /^binding\.gyp$/,
    'bin/shmkit.mjs (the CLI)': /^bin\/shmkit\.mjs$/,
    'python/shmkit_reader.py': /^python\/shmkit_reader\.py$/,
  };
  for (const [what, pattern] of Object.entries(required)) if (!has(pattern)) fail(`tarball lacks ${what}`);
  const tests = files.filter((f) => /(^|\/)test\/|\.test\.[cm]?[jt]s$/.test(f));
  if (tests.length) fail(`tarball carries tests: ${tests.join(', ')}`);
}

const smoke = `
import { SharedMemory } from 'shmkit';
const name = 'shmkit_install_' + process.pid;
const a = new SharedMemory({ name, create: true, size: 4096 });
new Uint32Array(a.buffer)[0] = 0xdecafbad;
const b = new SharedMemory(name);
const seen = new Uint32Array(b.buffer)[0];
b.close(); a.close(); a.unlink();
if (seen !== 0xdecafbad) throw new Error('wrong bytes: ' + seen);
console.log('loaded and shared memory from the installed tarball');
`;

function installAndLoad(label, tarball, pathBin, scripts) {
  const project = join(work, label);
  run('mkdir', [project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `consumer-${label}`, private: true, type: 'module' }));
  const env = { HOME: process.env.HOME, PATH: pathBin, npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? work, '.npm') };
  const flags = ['install', '--no-audit', '--no-fund', '--prefer-offline', scripts ? '--foreground-scripts' : '--ignore-scripts', tarball];
  run(join(pathBin, 'npm'), flags, { cwd: project, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (existsSync(join(project, 'node_modules', 'shmkit', 'build'))) fail(`${label}: the addon was compiled instead of loaded from prebuilds/`);
  writeFileSync(join(project, 'smoke.mjs'), smoke);
  const out = run(join(pathBin, 'node'), ['smoke.mjs'], { cwd: project, env });
  console.log(`prebuilt-install (${label}): ${out.trim()}`);
  // The command line, as `npx shmkit` runs it from the consumer's node_modules/.bin.
  const listed = JSON.parse(run(join(project, 'node_modules', '.bin', 'shmkit'), ['ls', '--json', '--prefix', 'shmkit_install_'], { cwd: project, env }));
  if (!Array.isArray(listed)) fail(`${label}: shmkit ls --json printed no list`);
  console.log(`prebuilt-install (${label}): node_modules/.bin/shmkit ls --json runs`);
}

try {
  if (!process.env.SKIP_PREBUILDIFY) run('npm', ['run', 'prebuildify'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root }));
  const files = packed.files.map((f) => f.path);
  checkTarball(files);
  console.log(`prebuilt-install: ${packed.filename} has ${files.length} files, ${packed.size} bytes packed`);
  const tarball = join(work, packed.filename);
  const bin = compilerFreePath();
  installAndLoad('ignore-scripts', tarball, bin, false);
  installAndLoad('with-scripts', tarball, bin, true);
  console.log('prebuilt-install: OK');
} catch (err) {
  if (!process.exitCode) console.error(`prebuilt-install: FAIL: ${err.message}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}

// npm pack never makes a tarball without a prebuilt binary for this
// platform: in a copy of the package's build inputs, with no compiler on
// PATH and no prebuild, `npm pack` fails and says what to do; with a
// prebuild newer than native/, it packs it. (Building the prebuild itself is
// npm run test:install's part: too slow for npm test.)
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from './helpers.js';

const target = `${process.platform}-${process.arch}`;
const work = mkdtempSync(join(tmpdir(), 'shmkit-prepack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A PATH with node, npm and sh only: no cc, c++, make or python. */
function compilerFreePath(): string {
  const bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()), join(bin, 'npm'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  return bin;
}

/** The package's build inputs (no dist/ to build: `prepare` is left out), and its modules. */
function packageCopy(): string {
  const dir = join(work, 'package');
  mkdirSync(dir);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  delete manifest.scripts.prepare;
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  for (const part of ['binding.gyp', 'native', 'scripts', 'README.md', 'LICENSE']) cpSync(join(root, part), join(dir, part), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

describe.runIf(process.platform === 'linux')('npm pack', () => {
  const bin = compilerFreePath();
  const dir = packageCopy();
  const pack = () =>
    spawnSync(join(bin, 'npm'), ['pack', '--dry-run', '--json'], {
      cwd: dir,
      encoding: 'utf8',
      env: { HOME: process.env.HOME, PATH: bin, npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? work, '.npm') },
      timeout: 120_000,
    });

  it('fails, saying what to do, when there is no prebuild for this platform and none can be built', () => {
    const result = pack();
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`no prebuilt binary for ${target} in prebuilds/ newer than native/`);
    expect(result.stderr).toContain('npm run prebuildify');
  }, 130_000);

  it('packs the prebuild for this platform when one is newer than native/', () => {
    mkdirSync(join(dir, 'prebuilds', target), { recursive: true });
    writeFileSync(join(dir, 'prebuilds', target, 'shmkit.glibc.node'), 'stand-in');
    const result = pack();
    expect(result.status).toBe(0);
    const [packed] = JSON.parse(result.stdout.slice(result.stdout.indexOf('[')));
    expect(packed.files.map((f: { path: string }) => f.path)).toContain(`prebuilds/${target}/shmkit.glibc.node`);
  }, 130_000);
});

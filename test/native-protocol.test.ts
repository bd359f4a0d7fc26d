import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root } from './helpers.js';

// The frame protocol (native/channel/frame_ring.*) on its own: built with the
// system compiler, without node or N-API, into test/native/frame_ring_driver.cc,
// which runs it against a model, from several threads, and with words
// written wrong. With the
// address and undefined-behaviour sanitizers where the compiler has them, so
// an access outside a ring fails the run even where it would not crash.
const compiler = ['c++', 'g++', 'clang++'].find((cc) => spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0);
if (!compiler) console.log('native-protocol.test.ts skipped: no C++ compiler (c++, g++ or clang++) on this machine');

const SOURCES = [join(root, 'test', 'native', 'frame_ring_driver.cc'), join(root, 'native', 'channel', 'frame_ring.cc')];
const FLAGS = ['-std=c++17', '-O1', '-g', '-Wall', '-Wextra', '-pthread', `-I${join(root, 'native')}`];
const SANITIZERS = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer'];
// A seed of its own each run (printed when it fails), besides a fixed one.
const SEEDS = [1, Math.floor(Math.random() * 2 ** 31)];

let folder = '';
let driver = '';

/** Runs the driver; its one line of counts. */
function drive(...args: string[]): Record<string, number> {
  const run = spawnSync(driver, args, {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', UBSAN_OPTIONS: 'print_stacktrace=1' },
  });
  const said = `frame_ring_driver ${args.join(' ')}: status ${run.status}, signal ${run.signal}\n${run.stderr}`;
  expect(run.status, said).toBe(0);
  expect(run.stderr, said).toBe('');
  return JSON.parse(run.stdout);
}

describe.skipIf(!compiler)('the frame protocol on its own (C++ driver, no node)', () => {
  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), 'shmkit-frame-ring-'));
    driver = join(folder, 'frame_ring_driver');
    const build = (flags: string[]) => spawnSync(compiler as string, [...flags, ...SOURCES, '-o', driver], { encoding: 'utf8' });
    let built = build([...FLAGS, ...SANITIZERS]);
    if (built.status !== 0) {
      console.log(`native-protocol.test.ts: ${compiler} cannot build with ${SANITIZERS[0]}; built without sanitizers\n${built.stderr}`);
      built = build(FLAGS);
    }
    expect(built.status, built.stderr).toBe(0);
  }, 180_000);

  afterAll(() => {
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('random writes, reserves, publishes, reads, peeks, holds, unholds and adoptions agree with a model', () => {
    for (const seed of SEEDS) {
      const counts = drive('model', String(seed), '20000');
      // Every kind of step happened, so the model was checked on each.
      for (const kind of ['written', 'read', 'noRoom', 'paddingWaits', 'held', 'adopted']) expect(counts[kind], `seed ${seed}: ${kind}`).toBeGreaterThan(0);
    }
  }, 120_000);

  it('every word written wrong in the ways docs/format.md names is found corrupt, and the ring works after', () => {
    expect(drive('corrupt').cases).toBe(18);
  }, 120_000);

  it('a writer thread and reader threads, each with a handle of its own: every message once, in order, intact, held views never written over', () => {
    expect(drive('threads', '10000')).toEqual({ runs: 9, messages: 90000 });
  }, 120_000);

  it('random words written wrong: no crash, no access outside the ring, and the ring works once they stop', () => {
    for (const seed of SEEDS) {
      const counts = drive('chaos', String(seed), '20000');
      expect(counts.corrupt, `seed ${seed}`).toBeGreaterThan(0);
      expect(counts.recovered, `seed ${seed}`).toBe(7);
    }
  }, 120_000);
});

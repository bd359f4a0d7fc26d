// Lock benchmarks, ratios measured in one run (issue 4):
//  - uncontended acquire+release against a bare Atomics.compareExchange pair;
//  - two processes incrementing a shared counter under a lock: shmkit Lock
//    against a lock built on a named POSIX semaphore called through N-API
//    (shmkit's Semaphore) and against Python's multiprocessing.Value with
//    get_lock() (when python3 is present).
//   node bench/lock.mjs
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lock, Semaphore, SharedArray, SharedMemory, Value } from 'shmkit';
import { fmt, machine, stats } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const UNCONTENDED_OPS = 2_000_000;
const CONTENDED_N = 200_000; // per process
const PY_N = 50_000; // per process: Python is far slower
const ROUNDS = 5;

function uncontended() {
  const name = `bench_${randomBytes(4).toString('hex')}`;
  const lock = Lock.create(name);
  const shm = new SharedMemory({ create: true, size: 64 });
  const word = new Int32Array(shm.buffer);
  const samples = { bare: [], lock: [] };
  try {
    const runs = {
      bare() {
        for (let i = 0; i < UNCONTENDED_OPS; i++) {
          Atomics.compareExchange(word, 0, 0, 1);
          Atomics.compareExchange(word, 0, 1, 0);
        }
      },
      lock() {
        for (let i = 0; i < UNCONTENDED_OPS; i++) {
          lock.acquireSync();
          lock.release();
        }
      },
    };
    for (let r = 0; r < ROUNDS + 1; r++) {
      for (const [label, run] of Object.entries(runs)) {
        const t0 = process.hrtime.bigint();
        run();
        if (r > 0) samples[label].push(Number(process.hrtime.bigint() - t0) / UNCONTENDED_OPS); // round 0 warms up
      }
    }
  } finally {
    lock.close();
    lock.unlink();
    shm.close();
    shm.unlink();
  }
  return { bare: stats(samples.bare), lock: stats(samples.lock) };
}

function runNode(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'contender.mjs'), ...args]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('close', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`contender exited ${code}`))));
  });
}

/** ops/s of two node processes doing N lock/increment/unlock each. */
async function contendedNode(kind) {
  const tag = randomBytes(4).toString('hex');
  const [lockName, counterName, ctlName] = [`bl_${tag}`, `bc_${tag}`, `bx_${tag}`];
  const lock = kind === 'shmkit' ? Lock.create(lockName) : Semaphore.create(lockName, 1);
  const counter = Value.create(counterName, 'int64', 0n);
  const ctl = SharedArray.create(ctlName, 'int32', 1);
  try {
    const times = await Promise.all([0, 1].map(() => runNode([kind, lockName, counterName, ctlName, String(CONTENDED_N)])));
    if (counter.value !== BigInt(2 * CONTENDED_N)) throw new Error(`${kind}: counter ${counter.value}, lost updates`);
    return (2 * CONTENDED_N) / (Math.max(...times) / 1e9);
  } finally {
    for (const o of [lock, counter, ctl]) {
      o.close();
      o.unlink();
    }
  }
}

function contendedPython() {
  const run = spawnSync('python3', [join(here, 'py_contended.py'), String(PY_N)], { encoding: 'utf8' });
  if (run.status !== 0) return undefined;
  const [ns, total] = run.stdout.trim().split(/\s+/).map(Number);
  if (total !== 2 * PY_N) throw new Error(`python: counter ${total}`);
  return (2 * PY_N) / (ns / 1e9);
}

export async function run(progress = () => {}) {
  const result = { uncontended: uncontended(), contended: {} };
  progress('locks: uncontended done');
  const python = spawnSync('python3', ['--version']).status === 0;
  const samples = { shmkit: [], semaphore: [], python: [] };
  for (let r = 0; r < ROUNDS; r++) {
    samples.shmkit.push(await contendedNode('shmkit'));
    samples.semaphore.push(await contendedNode('semaphore'));
    if (python) samples.python.push(contendedPython());
    progress(`locks: round ${r + 1}/${ROUNDS}`);
  }
  for (const [k, v] of Object.entries(samples)) if (v.length) result.contended[k] = stats(v);
  return result;
}

export function print(result) {
  const u = result.uncontended;
  console.log(`Locks (${machine()}), medians of ${u.lock.runs} runs`);
  console.log(
    `uncontended acquire+release: shmkit Lock ${fmt(u.lock.median)} [${fmt(u.lock.min)}..${fmt(u.lock.max)}], ` +
      `bare Atomics.compareExchange pair ${fmt(u.bare.median)}; Lock costs ${(u.lock.median / u.bare.median).toFixed(2)}x the bare pair`,
  );
  const c = result.contended;
  const rate = (s) => `${(s.median / 1e6).toFixed(2)} M ops/s [${(s.min / 1e6).toFixed(2)}..${(s.max / 1e6).toFixed(2)}]`;
  console.log('2 processes, lock/increment/unlock on a shared counter:');
  console.log(`  shmkit Lock                         ${rate(c.shmkit)}`);
  console.log(`  POSIX named semaphore via N-API     ${rate(c.semaphore)}   shmkit is ${(c.shmkit.median / c.semaphore.median).toFixed(1)}x (goal >= 1.5x)`);
  if (c.python) {
    console.log(`  Python multiprocessing.Value lock   ${rate(c.python)}   shmkit is ${(c.shmkit.median / c.python.median).toFixed(1)}x (goal >= 15x)`);
  } else {
    console.log('  Python multiprocessing: python3 not found, skipped');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) print(await run());

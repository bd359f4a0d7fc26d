// Pool: what worker processes buy, on this machine's cores.
// - CPU-bound map (prime counting in 16 ranges): one process (the plain loop
//   here), Pool with 1 process, Pool with every core.
// - 20,000 tiny tasks (add) submitted at once, each its own call, on a pool
//   that has just started (one task per worker first, no long warm-up):
//   shmkit Pool against a pool on child_process.fork + process.send
//   (advanced serialization, pipelined, round-robin) and piscina (worker
//   threads) when it is installed. Fresh pools every round; medians.
// - Head of line: 1,000 tiny tasks (add) submitted just after one long task
//   (spin, 2 s) on a pool of 2, against the same 1,000 on an idle pool of 1:
//   the tiny ones should not wait for the long one (goal: within 10%). On a
//   machine of 2 cores the long task also takes a core from the parent and
//   the other worker, so a third row times the idle pool of 1 beside a
//   process spinning on a core, which is what the pool of 2 can match there.
//   node bench/pool.mjs
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from '../dist/index.js';
import { machine, stats } from './lib.mjs';
import { countPrimes } from './pool-tasks.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const TASKS = pathToFileURL(join(here, 'pool-tasks.mjs'));
const CORES = Math.min(availableParallelism(), 8);
const PRIME_LIMIT = 3_000_000;
const RANGES = Array.from({ length: 16 }, (_, i) => [(i * PRIME_LIMIT) / 16, ((i + 1) * PRIME_LIMIT) / 16]);
const TINY = 20_000;
const ROUNDS = 5;
const LONG_MS = 2000;
const BEHIND = 1000;
/** Samples of the 1,000 per round, all taken while the long task runs. */
const BEHIND_SAMPLES = 3;

async function started(processes) {
  const pool = new Pool(TASKS, { processes });
  await Promise.all(Array.from({ length: processes }, () => pool.apply('add', [1, 2])));
  return pool;
}

/** A pool whose every worker has loaded the module and run a task (a spin longer than a start), and that has timed add. */
async function warmed(processes) {
  const pool = new Pool(TASKS, { processes });
  await pool.map(
    'spin',
    Array.from({ length: processes }, () => 300),
    { chunksize: 1 },
  );
  await Promise.all(Array.from({ length: processes }, () => pool.apply('add', [1, 2])));
  return pool;
}

async function timed(body) {
  const t0 = performance.now();
  await body();
  return performance.now() - t0;
}

/** A minimal process pool on fork + process.send, pipelined: what a Node user writes without shmkit. */
async function forkPool(processes) {
  const children = Array.from({ length: processes }, () => fork(join(here, 'fork-pool-child.mjs'), [], { serialization: 'advanced' }));
  const pending = new Map();
  for (const child of children) child.on('message', ([id, value]) => pending.get(id)(value) ?? pending.delete(id));
  let next = 0;
  const submit = (fn, ...args) =>
    new Promise((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      children[id % processes].send([id, fn, args]);
    });
  await Promise.all(children.map(() => submit('add', 1, 2)));
  return { submit, close: () => Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve).kill()))) };
}

async function piscinaPool(processes) {
  let Piscina;
  try {
    ({ Piscina } = await import('piscina'));
  } catch {
    return undefined;
  }
  const pool = new Piscina({ filename: TASKS.href, minThreads: processes, maxThreads: processes });
  await Promise.all(Array.from({ length: processes }, () => pool.run({ fn: 'add', args: [1, 2] })));
  return { submit: (fn, ...args) => pool.run({ fn, args }), close: () => pool.destroy() };
}

/** ms until all of BEHIND tiny tasks submitted at once are answered. */
async function behindTasks(pool) {
  return timed(async () => {
    const results = await Promise.all(Array.from({ length: BEHIND }, (_, i) => pool.submit('add', i, 1)));
    if (results[BEHIND - 1] !== BEHIND) throw new Error('wrong result');
  });
}

/** A process spinning on one core until killed: the load a long task puts on the machine, outside any pool. */
async function spinner() {
  const child = fork(join(here, 'fork-pool-child.mjs'), [], { serialization: 'advanced' });
  await new Promise((resolve) => child.once('spawn', resolve));
  child.send([0, 'spin', [60_000]]);
  return { stop: () => new Promise((resolve) => child.once('exit', resolve).kill('SIGKILL')) };
}

async function tinyTasks(submit) {
  const results = await Promise.all(Array.from({ length: TINY }, (_, i) => submit('add', i, 1)));
  if (results[TINY - 1] !== TINY) throw new Error('wrong result');
}

export async function run(progress = () => {}) {
  const cpu = { oneProcess: [], pool1: [], poolAll: [] };
  const tiny = { shmkit: [], fork: [], piscina: [] };
  const behind = { idle1: [], idle1Spinning: [], busy2: [] };
  let expected;
  for (let round = 0; round < ROUNDS; round++) {
    progress(`pool: round ${round + 1}/${ROUNDS}`);
    cpu.oneProcess.push(await timed(() => (expected = RANGES.map(countPrimes))));
    for (const [key, processes] of [
      ['pool1', 1],
      ['poolAll', CORES],
    ]) {
      const pool = await started(processes);
      cpu[key].push(
        await timed(async () => {
          const counts = await pool.map('countPrimes', RANGES, { chunksize: 1 });
          if (counts.join() !== expected.join()) throw new Error('wrong counts');
        }),
      );
      await pool.close();
    }
    const pool = await started(CORES);
    tiny.shmkit.push(await timed(() => tinyTasks((fn, ...args) => pool.submit(fn, ...args))));
    await pool.close();
    const forked = await forkPool(CORES);
    tiny.fork.push(await timed(() => tinyTasks(forked.submit)));
    await forked.close();
    const threads = await piscinaPool(CORES);
    if (threads) {
      tiny.piscina.push(await timed(() => tinyTasks(threads.submit)));
      await threads.close();
    }
    const idle = await warmed(1);
    for (let i = 0; i < BEHIND_SAMPLES; i++) behind.idle1.push(await behindTasks(idle));
    const spinning = await spinner();
    for (let i = 0; i < BEHIND_SAMPLES; i++) behind.idle1Spinning.push(await behindTasks(idle));
    await spinning.stop();
    await idle.close();
    const busy = await warmed(2);
    // The long task first, then the tiny ones at once: they go to the other worker.
    const long = busy.submit('spin', LONG_MS);
    const longStarted = performance.now();
    for (let i = 0; i < BEHIND_SAMPLES; i++) behind.busy2.push(await behindTasks(busy));
    if (performance.now() - longStarted >= LONG_MS) throw new Error('the long task ended before the tiny ones were timed: the row means nothing');
    await long;
    await busy.close();
  }
  return {
    cores: CORES,
    tasks: TINY,
    cpu: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, stats(v)])),
    tiny: Object.fromEntries(Object.entries(tiny).flatMap(([k, v]) => (v.length ? [[k, stats(v)]] : []))),
    behind: Object.fromEntries(Object.entries(behind).map(([k, v]) => [k, stats(v)])),
  };
}

export function print(result) {
  const ms = (s) => `${s.median.toFixed(0)} ms [${s.min.toFixed(0)}..${s.max.toFixed(0)}]`;
  const { cpu, tiny } = result;
  console.log(`Pool (${machine()}), ${result.cores} processes, medians of ${cpu.oneProcess.runs} rounds`);
  console.log(`CPU-bound map, primes below ${PRIME_LIMIT} in 16 ranges:`);
  console.log(`  one process (plain loop)   ${ms(cpu.oneProcess)}`);
  console.log(`  Pool, 1 process            ${ms(cpu.pool1)}`);
  console.log(
    `  Pool, ${result.cores} processes          ${ms(cpu.poolAll)}   ${(cpu.oneProcess.median / cpu.poolAll.median).toFixed(2)}x one process (goal >= 1.6x on 2 cores)`,
  );
  const rate = (s) => `${((result.tasks / s.median) * 1000).toFixed(0).padStart(7)} tasks/s  ${ms(s)}`;
  console.log(`${result.tasks} tiny tasks (add), each its own call, on pools just started:`);
  console.log(`  shmkit Pool                ${rate(tiny.shmkit)}`);
  console.log(`  fork + process.send        ${rate(tiny.fork)}   shmkit is ${(tiny.fork.median / tiny.shmkit.median).toFixed(1)}x (goal >= 5x, bar 2x)`);
  if (tiny.piscina) console.log(`  piscina (worker threads)   ${rate(tiny.piscina)}   shmkit is ${(tiny.piscina.median / tiny.shmkit.median).toFixed(1)}x`);
  else console.log('  piscina: not installed, skipped');
  const { behind } = result;
  if (behind) {
    const ms2 = (s) => `${s.median.toFixed(1)} ms [${s.min.toFixed(1)}..${s.max.toFixed(1)}]`;
    console.log(`${BEHIND} tiny tasks (add) submitted just after a ${LONG_MS / 1000} s task, medians of ${behind.busy2.runs}:`);
    console.log(`  idle Pool, 1 process                 ${ms2(behind.idle1)}`);
    console.log(`  idle Pool, 1 process, a core spun    ${ms2(behind.idle1Spinning)}   (another process spins on one core meanwhile)`);
    console.log(
      `  Pool, 2 processes, one on the long   ${ms2(behind.busy2)}   ${(behind.busy2.median / behind.idle1.median).toFixed(2)}x the idle pool of 1 (goal <= 1.10x), ${(behind.busy2.median / behind.idle1Spinning.median).toFixed(2)}x it beside a spun core`,
    );
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) print(await run((line) => console.error(line)));

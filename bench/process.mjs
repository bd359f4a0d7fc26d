// Process: how long a start takes, and what passing shmkit objects costs.
// - Start: `new Process(...).start()` until it resolves (the child runs its
//   target, the module loaded, its arguments open), against
//   `child_process.fork` of a script whose first line is `process.send`,
//   until that message arrives. Interleaved, one child at a time, a quiet
//   pause before each; goal <= 1.2x fork. A start takes the spare child
//   (shmkit loaded) the last one left; a row of starts that cannot
//   (options.env given) shows what a start costs without it.
// - 10 handles: a Pool call (1 warm worker) whose arguments are 10 shmkit
//   objects (each opened in the worker for the call and closed after),
//   against the same call with 10 numbers; goal: <= 1 ms more. The same for
//   a Process start.
//   node bench/process.mjs
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Event, Lock, Pool, Process, Queue, Array as SharedArray, Value } from '../dist/index.js';
import { machine, percentile, uid } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const TASKS = pathToFileURL(join(here, 'process-tasks.mjs'));
const FORK_CHILD = join(here, 'process-fork-child.mjs');
const STARTS = 20;
/** Between starts: the spare child a Process start leaves behind has loaded, and no child of the last start still runs, before the next is timed. */
const QUIET_MS = 1000;
const CALLS = 300;

async function forkStart() {
  const t0 = performance.now();
  const child = fork(FORK_CHILD, { stdio: 'ignore' });
  await once(child, 'message');
  const ms = performance.now() - t0;
  if (child.exitCode === null) await once(child, 'exit');
  return ms;
}

/** `options.env` given: a start of its own child, not the spare. */
async function processStart(args, options = {}) {
  const t0 = performance.now();
  const proc = new Process(TASKS, 'noop', { args, ...options });
  await proc.start();
  const ms = performance.now() - t0;
  await proc.join();
  return ms;
}

function tenHandles() {
  const objects = [
    ...Array.from({ length: 5 }, () => Value.create(uid('bp'), 'int32', 0)),
    Lock.create(uid('bp')),
    Lock.create(uid('bp')),
    Queue.create(uid('bp'), { capacity: 4096 }),
    Event.create(uid('bp')),
    SharedArray.create(uid('bp'), 'float64', 16),
  ];
  return {
    objects,
    close() {
      for (const object of objects) {
        object.close();
        object.unlink();
      }
    },
  };
}

function summary(samples) {
  return { median: percentile(samples, 50), p99: percentile(samples, 99), runs: samples.length };
}

export async function run(progress = () => {}) {
  const handles = tenHandles();
  try {
    const start = { fork: [], process: [], process10: [], cold: [] };
    progress(`process: ${STARTS} starts of each kind, interleaved`);
    const quiet = () => new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    await processStart([]); // the first start is cold: it leaves the spare
    for (let i = 0; i < STARTS; i++) {
      await quiet();
      start.fork.push(await forkStart());
      await quiet();
      start.process.push(await processStart([]));
      await quiet();
      start.process10.push(await processStart(handles.objects));
    }
    for (let i = 0; i < 10; i++) {
      await quiet();
      start.cold.push(await processStart([], { env: process.env }));
    }
    progress(`process: ${CALLS} Pool calls with 10 numbers and with 10 handles, interleaved`);
    const call = { numbers: [], handles: [] };
    const pool = new Pool(TASKS, { processes: 1 });
    try {
      const numbers = Array.from({ length: 10 }, (_, i) => i);
      for (let i = 0; i < 20; i++) await pool.apply('count', handles.objects);
      for (let i = 0; i < CALLS; i++) {
        let t0 = performance.now();
        await pool.apply('count', numbers);
        call.numbers.push(performance.now() - t0);
        t0 = performance.now();
        const open = await pool.apply('count', handles.objects);
        call.handles.push(performance.now() - t0);
        if (open !== 10) throw new Error(`the task saw ${open} open handles, not 10`);
      }
    } finally {
      await pool.close();
    }
    return {
      start: Object.fromEntries(Object.entries(start).map(([k, v]) => [k, summary(v)])),
      call: Object.fromEntries(Object.entries(call).map(([k, v]) => [k, summary(v)])),
    };
  } finally {
    handles.close();
  }
}

export function print(result) {
  const ms = (s) => `median ${s.median.toFixed(1).padStart(6)} ms  p99 ${s.p99.toFixed(1).padStart(6)} ms`;
  const ms3 = (s) => `median ${s.median.toFixed(3)} ms  p99 ${s.p99.toFixed(3)} ms`;
  const { start, call } = result;
  console.log(`Process (${machine()}), ${start.fork.runs} starts each, interleaved:`);
  console.log(`  child_process.fork to its first message   ${ms(start.fork)}`);
  console.log(
    `  Process start() to its target running     ${ms(start.process)}   ${(start.process.median / start.fork.median).toFixed(2)}x fork (goal <= 1.2x), p99 ${(start.process.p99 / start.fork.p99).toFixed(2)}x`,
  );
  console.log(
    `  the same with 10 handles in its args       ${ms(start.process10)}   +${(start.process10.median - start.process.median).toFixed(1)} ms (median)`,
  );
  console.log(
    `  a start without the spare (options.env)    ${ms(start.cold)}   ${(start.cold.median / start.fork.median).toFixed(2)}x fork (${start.cold.runs} starts, after the others)`,
  );
  console.log(`Pool call (1 warm worker), ${call.numbers.runs} each, interleaved:`);
  console.log(`  10 numbers as arguments                    ${ms3(call.numbers)}`);
  console.log(
    `  10 handles as arguments (opened, closed)   ${ms3(call.handles)}   +${(call.handles.median - call.numbers.median).toFixed(3)} ms median, +${(call.handles.p99 - call.numbers.p99).toFixed(3)} ms p99 (goal <= 1 ms)`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) print(await run((line) => console.error(line)));

// Channel benchmarks (issue 5), side by side in one run, between two separate
// node processes: small-message round trip and 1 MiB message throughput, for
// shmkit Pipe / Queue against process.send (json and advanced serialization),
// worker_threads postMessage, a Unix domain socket, and Python's
// multiprocessing Pipe / Queue when python3 is present.
//   node bench/channels.mjs            (npm run bench runs it with the others)
import { fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SharedMemory } from 'shmkit';
import { exited, machine, socketRoundTrip, spawnPeer, stats, uid, withPeerPipe, withPeerQueues, withSocket } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const peerScript = join(here, 'channel-peer.mjs');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** BENCH_PART=throughput or roundtrip runs only that half (while working on one). */
const PART = process.env.BENCH_PART;
const ROUND_TRIPS = 10_000;
const WARMUP = 2000;
const BIG_COUNT = 48;
const MIB = 1 << 20;
const SMALL = 'x'.repeat(32);
const SMALL_BYTES = Buffer.alloc(32, 120);
const BIG = Buffer.alloc(MIB, 121);

/**
 * Us per round trip of the last `n` of WARMUP + n steps. One loop, the clock
 * read at step WARMUP, as a program's request loop is one loop: a second
 * loop for the timed part would be compiled again on its own (on-stack
 * replacement) inside the timed window, a cost of the harness that no
 * program pays.
 */
async function timeLoop(n, step) {
  let t0 = 0;
  for (let i = 0; i < WARMUP + n; i++) {
    if (i === WARMUP) t0 = performance.now();
    await step();
  }
  return ((performance.now() - t0) * 1000) / n;
}

/** timeLoop for a blocking step: no await (and no microtask) per round trip. */
function timeLoopSync(n, step) {
  let t0 = 0;
  for (let i = 0; i < WARMUP + n; i++) {
    if (i === WARMUP) t0 = performance.now();
    step();
  }
  return ((performance.now() - t0) * 1000) / n;
}

const withPipe = (mode, extra, body) => withPeerPipe(mode, { capacity: 8 * MIB, extra }, body);

const withQueues = (mode, extra, body) => withPeerQueues(mode, { capacity: 8 * MIB, extra }, body);

async function withIpc(serialization, peerMode, extra, body) {
  const child = fork(peerScript, [peerMode, ...extra], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('error', () => {}); // a sink may already have disconnected
  try {
    await once(child, 'message'); // "ready"
    return await body(child);
  } finally {
    if (child.connected) child.send('STOP', () => {});
    await exited(child);
  }
}

function ipcRoundTrip(child, message) {
  return () =>
    new Promise((resolve) => {
      child.once('message', resolve);
      child.send(message);
    });
}

function withWorker(body) {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.postMessage('ready');
     let sinkLeft = 0;
     parentPort.on('message', (m) => {
       if (m && m.sink) { sinkLeft = m.sink; return; }
       if (sinkLeft > 0) { if (--sinkLeft === 0) parentPort.postMessage('done'); return; }
       parentPort.postMessage(m);
     });`,
    { eval: true },
  );
  return once(worker, 'message')
    .then(() => body(worker))
    .finally(() => worker.terminate());
}

/** Round trips of one int32 through shared memory with a spinning peer: what no channel can beat. */
async function barePingPong() {
  const name = uid();
  const shm = new SharedMemory({ name, create: true, size: 4096 });
  const words = new Int32Array(shm.buffer);
  const child = spawnPeer(['bare-pong', name]);
  try {
    while (Atomics.load(words, 32) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    let n = 0;
    return timeLoopSync(ROUND_TRIPS, () => {
      Atomics.store(words, 0, ++n);
      while (Atomics.load(words, 16) !== n);
    });
  } finally {
    Atomics.store(words, 0, -1);
    await exited(child);
    shm.close();
    SharedMemory.unlink(name);
  }
}

const roundTrips = {
  'bare shared memory (floor)': barePingPong,
  'shmkit Pipe, reader awake': () =>
    withPipe('pipe-awake', [], (pipe) =>
      timeLoopSync(ROUND_TRIPS, () => {
        pipe.sendSync(SMALL);
        while (!pipe.pollSync());
        pipe.recvSync();
      }),
    ),
  'shmkit Pipe, blocking (sleeps)': () =>
    withPipe('pipe-sync', [], (pipe) =>
      timeLoopSync(ROUND_TRIPS, () => {
        pipe.sendSync(SMALL);
        pipe.recvSync();
      }),
    ),
  'shmkit Pipe, async': () =>
    withPipe('pipe-async', [], (pipe) =>
      timeLoop(ROUND_TRIPS, async () => {
        await pipe.send(SMALL);
        await pipe.recv();
      }),
    ),
  'shmkit Queue, blocking': () =>
    withQueues('queue-sync', [], (inbox, outbox) =>
      timeLoopSync(ROUND_TRIPS, () => {
        inbox.putSync(SMALL);
        outbox.getSync();
      }),
    ),
  'process.send (json)': () => withIpc('json', 'ipc-echo', [], (child) => timeLoop(ROUND_TRIPS, ipcRoundTrip(child, SMALL))),
  'process.send (advanced)': () => withIpc('advanced', 'ipc-echo', [], (child) => timeLoop(ROUND_TRIPS, ipcRoundTrip(child, SMALL))),
  'worker_threads postMessage': () =>
    withWorker((worker) =>
      timeLoop(
        ROUND_TRIPS,
        () =>
          new Promise((resolve) => {
            worker.once('message', resolve);
            worker.postMessage(SMALL);
          }),
      ),
    ),
  'Unix domain socket': () => withSocket('socket-echo', [], (socket) => timeLoop(ROUND_TRIPS, () => socketRoundTrip(socket, SMALL_BYTES))),
};

async function mibPerSecond(send, finished) {
  const t0 = performance.now();
  await send();
  await finished();
  return BIG_COUNT / ((performance.now() - t0) / 1000);
}

const throughputs = {
  'shmkit Pipe': () =>
    withPipe('pipe-sink', [String(BIG_COUNT)], (pipe) =>
      mibPerSecond(
        () => {
          for (let i = 0; i < BIG_COUNT; i++) pipe.sendSync(BIG);
        },
        () => pipe.recvSync(),
      ),
    ),
  'shmkit Pipe, recvBytesIntoSync': () =>
    withPipe('pipe-sink-into', [String(BIG_COUNT)], (pipe) =>
      mibPerSecond(
        () => {
          for (let i = 0; i < BIG_COUNT; i++) pipe.sendSync(BIG);
        },
        () => pipe.recvSync(),
      ),
    ),
  'shmkit Pipe, reserve + views': () =>
    withPipe('pipe-sink-view', [String(BIG_COUNT)], (pipe) =>
      mibPerSecond(
        () => {
          for (let i = 0; i < BIG_COUNT; i++) {
            const slot = pipe.reserveSync(MIB);
            slot.bytes.set(BIG);
            slot.commit();
          }
        },
        () => pipe.recvSync(),
      ),
    ),
  'shmkit Queue': () =>
    withQueues('queue-sink', [String(BIG_COUNT)], (inbox, outbox) =>
      mibPerSecond(
        () => {
          for (let i = 0; i < BIG_COUNT; i++) inbox.putSync(BIG);
        },
        () => outbox.getSync(),
      ),
    ),
  'process.send (json, string)': () =>
    withIpc('json', 'ipc-sink', [String(BIG_COUNT)], (child) => {
      const text = 'z'.repeat(MIB);
      return mibPerSecond(
        async () => {
          for (let i = 0; i < BIG_COUNT; i++) child.send(text);
        },
        () => once(child, 'message'),
      );
    }),
  'process.send (advanced)': () =>
    withIpc('advanced', 'ipc-sink', [String(BIG_COUNT)], (child) =>
      mibPerSecond(
        async () => {
          for (let i = 0; i < BIG_COUNT; i++) child.send(BIG);
        },
        () => once(child, 'message'),
      ),
    ),
  'worker_threads postMessage': () =>
    withWorker((worker) => {
      worker.postMessage({ sink: BIG_COUNT });
      return mibPerSecond(
        async () => {
          for (let i = 0; i < BIG_COUNT; i++) worker.postMessage(BIG);
        },
        () => once(worker, 'message'),
      );
    }),
  'Unix domain socket': () =>
    withSocket('socket-sink', [String(BIG_COUNT * MIB)], (socket) =>
      mibPerSecond(
        async () => {
          for (let i = 0; i < BIG_COUNT; i++) if (!socket.write(BIG)) await once(socket, 'drain');
        },
        () => once(socket, 'data'),
      ),
    ),
};

function python() {
  if (spawnSync('python3', ['--version']).status !== 0) return undefined;
  const run = spawnSync('python3', [join(here, 'py_channels.py'), String(ROUND_TRIPS), String(BIG_COUNT)], { encoding: 'utf8' });
  return run.status === 0 ? JSON.parse(run.stdout) : undefined;
}

export async function run(progress = () => {}) {
  const rt = Object.fromEntries(Object.keys(roundTrips).map((k) => [k, []]));
  const tp = Object.fromEntries(Object.keys(throughputs).map((k) => [k, []]));
  const py = { 'Python mp.Pipe': [[], []], 'Python mp.Queue': [[], []] };
  for (let r = 0; r < ROUNDS; r++) {
    if (PART !== 'throughput') for (const [name, measure] of Object.entries(roundTrips)) rt[name].push(await measure());
    if (PART !== 'roundtrip') for (const [name, measure] of Object.entries(throughputs)) tp[name].push(await measure());
    progress(`channels: round ${r + 1}/${ROUNDS}`);
    const p = PART ? undefined : python();
    if (p) {
      py['Python mp.Pipe'][0].push(p.pipe_roundtrip_us);
      py['Python mp.Pipe'][1].push(p.pipe_mib_per_s);
      py['Python mp.Queue'][0].push(p.queue_roundtrip_us);
      py['Python mp.Queue'][1].push(p.queue_mib_per_s);
    }
  }
  for (const [name, [r, t]] of Object.entries(py)) {
    if (r.length) {
      rt[name] = r;
      tp[name] = t;
    }
  }
  // Rows not run (BENCH_PART) are left out.
  const summarize = (table) => Object.fromEntries(Object.entries(table).flatMap(([k, v]) => (v.length ? [[k, stats(v)]] : [])));
  return { machine: machine(), rounds: ROUNDS, roundTripUs: summarize(rt), throughputMiBs: summarize(tp) };
}

const GOALS = [
  ['round trip, reader awake, vs Unix socket', (r) => r.roundTripUs['Unix domain socket'].median / r.roundTripUs['shmkit Pipe, reader awake'].median, 40],
  [
    'round trip, reader awake, vs bare shared memory (1 = as fast; 0.5 = twice as slow)',
    (r) => r.roundTripUs['bare shared memory (floor)'].median / r.roundTripUs['shmkit Pipe, reader awake'].median,
    0.5,
  ],
  [
    'round trip, both sides sleep, vs Unix socket',
    (r) => r.roundTripUs['Unix domain socket'].median / r.roundTripUs['shmkit Pipe, blocking (sleeps)'].median,
    1.5,
  ],
  ['1 MiB throughput vs Unix socket', (r) => r.throughputMiBs['shmkit Pipe'].median / r.throughputMiBs['Unix domain socket'].median, 4],
  ['1 MiB throughput vs process.send (advanced)', (r) => r.throughputMiBs['shmkit Pipe'].median / r.throughputMiBs['process.send (advanced)'].median, 10],
  [
    '1 MiB throughput, reserve + views, vs Unix socket',
    (r) => r.throughputMiBs['shmkit Pipe, reserve + views'].median / r.throughputMiBs['Unix domain socket'].median,
    8,
  ],
  [
    '1 MiB throughput, recvBytesIntoSync, vs Unix socket',
    (r) => r.throughputMiBs['shmkit Pipe, recvBytesIntoSync'].median / r.throughputMiBs['Unix domain socket'].median,
    4,
  ],
  [
    '1 MiB throughput, recvBytesIntoSync, vs process.send (advanced)',
    (r) => r.throughputMiBs['shmkit Pipe, recvBytesIntoSync'].median / r.throughputMiBs['process.send (advanced)'].median,
    10,
  ],
];

export function print(result) {
  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  console.log(`Channels between two processes (${result.machine}); medians of ${result.rounds} runs [min..max]`);
  // A part not run (BENCH_PART) has no rows, and no section.
  const base = result.roundTripUs['shmkit Pipe, reader awake']?.median;
  if (base !== undefined) {
    console.log(`\nSmall-message round trip (32 bytes), us (lower is better); ratio = peer / shmkit Pipe, reader awake`);
    for (const [name, s] of Object.entries(result.roundTripUs)) {
      console.log(`  ${name.padEnd(34)} ${f(s.median).padStart(8)} [${f(s.min)}..${f(s.max)}]  ${(s.median / base).toFixed(1)}x`);
    }
  }
  const pipe = result.throughputMiBs['shmkit Pipe']?.median;
  if (pipe !== undefined) {
    console.log(`\n1 MiB message throughput, MiB/s (higher is better); ratio = shmkit Pipe / peer`);
    for (const [name, s] of Object.entries(result.throughputMiBs)) {
      console.log(`  ${name.padEnd(34)} ${f(s.median).padStart(8)} [${f(s.min)}..${f(s.max)}]  ${(pipe / s.median).toFixed(1)}x`);
    }
  }
  console.log('\nGoals:');
  for (const [label, ratio, goal] of GOALS) {
    let value;
    try {
      value = ratio(result);
    } catch {
      continue; // a row not run (BENCH_PART)
    }
    console.log(`  ${label}: ${value.toFixed(1)}x (goal >= ${goal}x) ${value >= goal ? 'met' : 'MISSED'}`);
  }
}

/** A two-panel horizontal bar chart of the medians, as SVG text. */
export function svg(result) {
  const width = 760;
  const row = 22;
  const panels = [
    ['Small-message round trip, microseconds (lower is better)', result.roundTripUs],
    ['1 MiB message throughput, MiB/s (higher is better)', result.throughputMiBs],
  ];
  let y = 30;
  const parts = [];
  for (const [title, table] of panels) {
    const entries = Object.entries(table);
    const max = Math.max(...entries.map(([, s]) => s.median));
    parts.push(`<text x="10" y="${y}" font-weight="bold">${title}</text>`);
    y += 12;
    for (const [name, s] of entries) {
      const w = Math.max(1, (s.median / max) * 380);
      const color = name.startsWith('shmkit') ? '#2a7ab0' : '#b0b0b0';
      parts.push(`<text x="10" y="${y + 15}">${name}</text>`);
      parts.push(`<rect x="250" y="${y + 3}" width="${w.toFixed(1)}" height="16" fill="${color}"/>`);
      parts.push(`<text x="${(256 + w).toFixed(1)}" y="${y + 15}">${s.median >= 100 ? s.median.toFixed(0) : s.median.toFixed(1)}</text>`);
      y += row;
    }
    y += 30;
  }
  parts.push(`<text x="10" y="${y - 10}" font-size="11" fill="#555">${result.machine}; medians of ${result.rounds} runs; node bench/channels.mjs</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif" font-size="13">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) print(await run((line) => console.error(line)));

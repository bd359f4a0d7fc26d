// Wait-engine benchmarks: the shapes servers have, not only tight loops.
// Between two separate node processes, against a Unix domain socket measured
// in the same run (ratios = socket / shmkit; > 1 means shmkit is faster):
//   - async request/reply where each request follows a 1 ms idle gap (both
//     sides `await send()` / `await recv()`; the responder is asleep when the
//     request comes, as a server between requests is); also with both
//     processes sleeping through io_uring futex waits or the waiter thread
//     instead of doorbells (SHMKIT_DOORBELL=off, SHMKIT_WAIT_BACKEND=thread);
//   - async request/reply back to back, over a Pipe and over two Queues;
//   - blocking request/reply (sendSync / recvSync) in a fresh pair of
//     processes after only 200 warm-up messages (the mean, which counts the
//     stalls a 2-core machine has while V8 still compiles, and the median);
// and the cost of many pending async waits: 20,000 waits over 4 Events in
// this process (threads added, time for all to settle once set), and
// thousands of pending waits on one Lock, RLock, Condition, Barrier or
// Queue (bench/drain.mjs, each in fresh processes, on io_uring and on the
// waiter thread): how long they take to drain once released, and the CPU
// they cost while pending.
//   node bench/waits.mjs
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Event } from 'shmkit';
import { machine, median, roundTrips, socketRoundTrip, stats, uid, withPeerPipe, withPeerQueues, withSocket } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const idleClient = join(here, 'idle-client.mjs');
const drainScript = join(here, 'drain.mjs');

/** bench/drain.mjs scenarios: [label, KIND COUNT HANDLES PROCESSES]. */
const DRAINS = [
  ['Lock, 20,000 acquires, 1 handle', ['lock', '20000', '1', '1']],
  ['Lock, 20,000 acquires, 100 handles', ['lock', '20000', '100', '1']],
  ['Lock, 4 processes x 5,000 acquires', ['lock', '20000', '4', '4']],
  ['RLock, 20,000 acquires, 100 handles', ['rlock', '20000', '100', '1']],
  ['Condition, 1,000 waiters on 1,000 handles, notifyAll', ['condition', '1000', '1000', '1']],
  ['Barrier, 5,000 parties, 100 handles', ['barrier', '5000', '100', '1']],
  ['Queue, 20,000 gets, 100 handles', ['queue', '20000', '100', '1']],
];
const DRAIN_BACKENDS = [
  ['io_uring', {}],
  ['waiter thread', { SHMKIT_WAIT_BACKEND: 'thread' }],
];

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const IDLE_REQUESTS = 1000;
const BACK_TO_BACK = 2000;
const SHORT_WARMUP = 200;
const TIMED_SYNC = 2000;
const MESSAGE = 'x'.repeat(32);
const MESSAGE_BYTES = Buffer.alloc(32, 120);

const withPipe = (mode, env, body) => withPeerPipe(mode, { capacity: 1 << 16, env, prefix: 'bw' }, body);

/** Request/reply over two Queues (requests to the peer, its replies back), with a peer that answers each with `await put()`. */
const withQueues = (body) => withPeerQueues('queue-async', { capacity: 1 << 16, prefix: 'bwq' }, body);

const queueAsync = (n) => () =>
  withQueues((requests, replies) =>
    roundTrips(n, 0, async () => {
      await requests.put(MESSAGE);
      await replies.get();
    }),
  );

const pipeAsync = (gapMs, n, env) => () =>
  withPipe('pipe-async', env, (pipe) =>
    roundTrips(n, gapMs, async () => {
      await pipe.send(MESSAGE);
      await pipe.recv();
    }),
  );

/**
 * The same as pipeAsync, with both ends in processes started with `env`:
 * how a wait sleeps is chosen per process, so the client cannot be this one.
 */
const pipeAsyncApart = (gapMs, n, env) => async () => {
  const client = spawn(process.execPath, [idleClient, String(gapMs), String(n)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  let out = '';
  client.stdout.on('data', (d) => {
    out += d;
  });
  const [code] = await once(client, 'exit');
  if (code !== 0) throw new Error(`bench/idle-client.mjs exited with ${code}`);
  return Number(out);
};

const socket = (gapMs, n) => () => withSocket('socket-echo', [], (s) => roundTrips(n, gapMs, () => socketRoundTrip(s, MESSAGE_BYTES)));

const contestants = {
  idle: {
    'shmkit Pipe, async, 1 ms idle gap': pipeAsync(1, IDLE_REQUESTS, {}),
    'shmkit Pipe, async, 1 ms idle gap (io_uring futex waits, no doorbell)': pipeAsyncApart(1, IDLE_REQUESTS, { SHMKIT_DOORBELL: 'off' }),
    'shmkit Pipe, async, 1 ms idle gap (waiter thread, no doorbell)': pipeAsyncApart(1, IDLE_REQUESTS, {
      SHMKIT_WAIT_BACKEND: 'thread',
      SHMKIT_DOORBELL: 'off',
    }),
    'Unix domain socket, 1 ms idle gap': socket(1, IDLE_REQUESTS),
  },
  backToBack: {
    'shmkit Pipe, async, back to back': pipeAsync(0, BACK_TO_BACK, {}),
    'shmkit Queue, async, back to back': queueAsync(BACK_TO_BACK),
    'Unix domain socket, back to back': socket(0, BACK_TO_BACK),
  },
  shortWarmup: {
    'shmkit Pipe, sendSync/recvSync, 200 warm-up': () =>
      withPipe('pipe-sync', {}, (pipe) => {
        for (let i = 0; i < SHORT_WARMUP; i++) {
          pipe.sendSync(MESSAGE);
          pipe.recvSync();
        }
        const each = [];
        const t0 = performance.now();
        for (let i = 0; i < TIMED_SYNC; i++) {
          const t = performance.now();
          pipe.sendSync(MESSAGE);
          pipe.recvSync();
          each.push((performance.now() - t) * 1000);
        }
        const mean = ((performance.now() - t0) * 1000) / TIMED_SYNC;
        shortWarmupMedians.push(median(each));
        return mean;
      }),
    'Unix domain socket, 200 warm-up': () =>
      withSocket('socket-echo', [], async (s) => {
        for (let i = 0; i < SHORT_WARMUP; i++) await socketRoundTrip(s, MESSAGE_BYTES);
        const t0 = performance.now();
        for (let i = 0; i < TIMED_SYNC; i++) await socketRoundTrip(s, MESSAGE_BYTES);
        return ((performance.now() - t0) * 1000) / TIMED_SYNC;
      }),
  },
};

/** Median single round trip of each short-warm-up run (the mean above includes the stalls). */
const shortWarmupMedians = [];

const threadCount = () => readdirSync('/proc/self/task').length;

/** 20,000 pending Event.wait() over 4 Events: threads added, and ms until all settle once set. */
async function manyWaiters() {
  const events = Array.from({ length: 4 }, () => Event.create(uid('bw')));
  try {
    const before = process.platform === 'linux' ? threadCount() : NaN;
    const waits = [];
    for (let i = 0; i < 20_000; i++) waits.push(events[i % 4].wait());
    await sleep(50);
    const during = process.platform === 'linux' ? threadCount() : NaN;
    const t0 = performance.now();
    for (const e of events) e.set();
    const results = await Promise.all(waits);
    const settleMs = performance.now() - t0;
    if (!results.every((r) => r === true)) throw new Error('a wait did not end set');
    return { threadsAdded: during - before, settleMs };
  } finally {
    for (const e of events) {
      e.close();
      e.unlink();
    }
  }
}

/** Each drain scenario once per backend, in fresh processes: { label: { backend: { drainMs, idleCpuPercent } } }. */
function drains() {
  const result = {};
  for (const [label, args] of DRAINS) {
    result[label] = {};
    for (const [backend, env] of DRAIN_BACKENDS) {
      const out = execFileSync(process.execPath, ['--expose-gc', drainScript, ...args, uid('bwd')], { env: { ...process.env, ...env }, encoding: 'utf8' });
      const { drainMs, idleCpuPercent } = JSON.parse(out);
      result[label][backend] = { drainMs, idleCpuPercent };
    }
  }
  return result;
}

export async function run(progress = () => {}) {
  const samples = {};
  for (const group of Object.values(contestants)) for (const name of Object.keys(group)) samples[name] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const group of Object.values(contestants)) {
      for (const [name, measure] of Object.entries(group)) samples[name].push(await measure());
    }
    progress(`waits: round ${r + 1}/${ROUNDS}`);
  }
  const many = [];
  for (let r = 0; r < 3; r++) many.push(await manyWaiters());
  progress('waits: draining thousands of waiters');
  const drained = drains();
  return {
    machine: machine(),
    rounds: ROUNDS,
    roundTripUs: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])),
    shortWarmupSingleRoundTripUs: stats(shortWarmupMedians.splice(0)),
    manyWaiters: {
      waits: 20_000,
      objects: 4,
      threadsAdded: Math.max(...many.map((m) => m.threadsAdded)),
      settleMs: stats(many.map((m) => m.settleMs)),
    },
    drains: drained,
  };
}

/** socket / shmkit medians: how many times faster shmkit is. */
export function ratios(result) {
  const us = (name) => result.roundTripUs[name].median;
  return {
    idleGap: us('Unix domain socket, 1 ms idle gap') / us('shmkit Pipe, async, 1 ms idle gap'),
    idleGapUring: us('Unix domain socket, 1 ms idle gap') / us('shmkit Pipe, async, 1 ms idle gap (io_uring futex waits, no doorbell)'),
    idleGapThread: us('Unix domain socket, 1 ms idle gap') / us('shmkit Pipe, async, 1 ms idle gap (waiter thread, no doorbell)'),
    backToBack: us('Unix domain socket, back to back') / us('shmkit Pipe, async, back to back'),
    backToBackQueue: us('Unix domain socket, back to back') / us('shmkit Queue, async, back to back'),
    shortWarmup: us('Unix domain socket, 200 warm-up') / us('shmkit Pipe, sendSync/recvSync, 200 warm-up'),
  };
}

export function print(result) {
  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  console.log(`Waits between two processes (${result.machine}); medians of ${result.rounds} runs [min..max], us per round trip`);
  for (const [name, s] of Object.entries(result.roundTripUs)) {
    console.log(`  ${name.padEnd(70)} ${f(s.median).padStart(8)} [${f(s.min)}..${f(s.max)}]`);
  }
  const r = ratios(result);
  console.log('\nUnix socket / shmkit (goals: idle gap >= 1x, goal 2x; 200 warm-up >= 10x, goal 40x):');
  console.log(
    `  async, 1 ms idle gap:          ${r.idleGap.toFixed(2)}x (without doorbells: io_uring ${r.idleGapUring.toFixed(2)}x, waiter thread ${r.idleGapThread.toFixed(2)}x)`,
  );
  console.log(`  async, back to back:           ${r.backToBack.toFixed(2)}x (Queue: ${r.backToBackQueue.toFixed(2)}x)`);
  console.log(
    `  blocking, 200-message warm-up: ${r.shortWarmup.toFixed(1)}x (mean of the 2,000 timed round trips; their median is ${f(result.shortWarmupSingleRoundTripUs.median)} us)`,
  );
  const m = result.manyWaiters;
  console.log(
    `\n${m.waits} pending Event.wait() over ${m.objects} Events: ${m.threadsAdded} threads added (goal <= 8); all settled ${f(m.settleMs.median)} ms after set() [${f(m.settleMs.min)}..${f(m.settleMs.max)}]`,
  );
  if (!result.drains) return;
  console.log('\nThousands of pending async waits, released at once (goals: drained <= 1 s on io_uring, <= 2 s on the waiter thread; idle CPU <= 5%):');
  console.log(`  ${''.padEnd(56)} ${'io_uring'.padStart(22)} ${'waiter thread'.padStart(22)}`);
  for (const [label, byBackend] of Object.entries(result.drains)) {
    const cell = ({ drainMs, idleCpuPercent }) => `${drainMs} ms, idle ${idleCpuPercent}%`.padStart(22);
    console.log(`  ${label.padEnd(56)} ${cell(byBackend.io_uring)} ${cell(byBackend['waiter thread'])}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) print(await run((line) => console.error(line)));

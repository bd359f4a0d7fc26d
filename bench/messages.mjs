// What a server sends (issue 30): round trips of the message shapes programs
// send (a string, a Buffer, a Float64Array, a small object) between two
// separate node processes, each round trip timed on its own and reported as
// median and p99 (the mean beside them): shmkit Pipe blocking and async, back
// to back and after a 1 ms idle gap (and both ends in one process: the work
// per message, no wait in it), a pair of shmkit Queues (one each way, as
// a Pipe's two rings), against a Unix domain socket carrying
// the same shapes (bytes as they are, objects as JSON, as a socket user
// would send them).
//   node bench/messages.mjs        (npm run bench -- messages)
//   MESSAGES_SHAPES=object,buffer node bench/messages.mjs   (only those shapes)
//   MESSAGES_WARMUP=5000 node bench/messages.mjs   (round trips before the timed ones; 200 by default)
import { setTimeout as sleep } from 'node:timers/promises';
import { Pipe } from 'shmkit';
import { machine, uid, withPeerPipe, withPeerQueues, withSocket } from './lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// Few warm-ups: the first thousands of round trips are timed, as a fresh
// peer's are. A message that lib/ encodes runs partly in V8's unoptimized
// tiers for that long (docs/design.md, "Messages"); MESSAGES_WARMUP times
// the steady state instead.
const WARMUP = Number(process.env.MESSAGES_WARMUP ?? 200);
const BACK_TO_BACK = 3000;
const GAP_WARMUP = 20;
const AFTER_GAP = 200;
const GAP_MS = 1;

/** The shapes: how each is made, and how a socket user sends and reads it back. */
const SHAPES = {
  string: { make: () => 'x'.repeat(64), toWire: (m) => Buffer.from(m), fromWire: (b) => b.toString() },
  buffer: { make: () => Buffer.alloc(64, 7), toWire: (m) => m, fromWire: (b) => b },
  float64Array: {
    make: () => new Float64Array(8).fill(1.5),
    toWire: (m) => Buffer.from(m.buffer, m.byteOffset, m.byteLength),
    fromWire: (b) => new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)),
  },
  object: {
    make: () => ({ id: 12345, op: 'get', key: 'user:1234:profile' }),
    toWire: (m) => Buffer.from(JSON.stringify(m)),
    fromWire: (b) => JSON.parse(b.toString()),
  },
};
const chosen = process.env.MESSAGES_SHAPES?.split(',') ?? Object.keys(SHAPES);

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
}

/** Median, p99 and mean of the samples (us). */
function summary(samples) {
  const sorted = Float64Array.from(samples).sort();
  return { median: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length, n: samples.length };
}

/** The last `n` of `warmup + n` blocking round trips, each timed on its own (us), in one loop. */
function timeSync(warmup, n, step) {
  const samples = new Float64Array(n);
  for (let i = 0; i < warmup + n; i++) {
    const t0 = performance.now();
    step();
    if (i >= warmup) samples[i - warmup] = (performance.now() - t0) * 1000;
  }
  return Array.from(samples);
}

/** As timeSync for an async step; `gapMs` idle before each round trip. */
async function timeAsync(warmup, n, gapMs, step) {
  const samples = new Float64Array(n);
  for (let i = 0; i < warmup + n; i++) {
    if (gapMs) await sleep(gapMs);
    const t0 = performance.now();
    await step();
    if (i >= warmup) samples[i - warmup] = (performance.now() - t0) * 1000;
  }
  return Array.from(samples);
}

const withPipe = (mode, body) => withPeerPipe(mode, { capacity: 1 << 20, prefix: 'bm' }, body);

/** Two Queues echoed by a peer process: `body(outbox, inbox)`, the peer taking from the first. */
const withQueues = (mode, body) => withPeerQueues(mode, { capacity: 1 << 20, prefix: 'bmq' }, body);

/** One round trip of `wire` bytes through the echoing socket peer; resolves with what came back. */
function socketRoundTrip(socket, wire) {
  return new Promise((resolve) => {
    const chunks = [];
    let got = 0;
    const onData = (d) => {
      chunks.push(d);
      got += d.length;
      if (got >= wire.length) {
        socket.off('data', onData);
        resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
    socket.write(wire);
  });
}

/** The rows for one shape: { row: () => samples }. */
function rows(shape) {
  const { make, toWire, fromWire } = SHAPES[shape];
  const message = make();
  return {
    // The work per message with no wait in it: both ends of one Pipe in this
    // process, so a loaded machine's scheduling (which decides whether a
    // peer is awake) does not enter.
    'shmkit Pipe, both ends in one process': () => {
      const name = uid('bm');
      const pipe = Pipe.create(name, { capacity: 1 << 20 });
      const other = Pipe.open(name);
      try {
        return timeSync(WARMUP * 10, BACK_TO_BACK * 3, () => {
          pipe.sendSync(message);
          other.recvSync();
        });
      } finally {
        other.close();
        pipe.close();
        pipe.unlink();
      }
    },
    'shmkit Pipe, sendSync / recvSync': () =>
      withPipe('pipe-sync', (pipe) =>
        timeSync(WARMUP, BACK_TO_BACK, () => {
          pipe.sendSync(message);
          pipe.recvSync();
        }),
      ),
    'shmkit Pipe, async send / recv': () =>
      withPipe('pipe-async', (pipe) =>
        timeAsync(WARMUP, BACK_TO_BACK, 0, async () => {
          await pipe.send(message);
          await pipe.recv();
        }),
      ),
    'shmkit Queue, putSync / getSync': () =>
      withQueues('queue-sync', (outbox, inbox) =>
        timeSync(WARMUP, BACK_TO_BACK, () => {
          outbox.putSync(message);
          inbox.getSync();
        }),
      ),
    'shmkit Queue, async put / get': () =>
      withQueues('queue-async', (outbox, inbox) =>
        timeAsync(WARMUP, BACK_TO_BACK, 0, async () => {
          await outbox.put(message);
          await inbox.get();
        }),
      ),
    'Unix socket': () =>
      withSocket('socket-echo', [], (s) => timeAsync(WARMUP, BACK_TO_BACK, 0, async () => fromWire(await socketRoundTrip(s, toWire(message))))),
    'shmkit Pipe, async, 1 ms idle gap': () =>
      withPipe('pipe-async', (pipe) =>
        timeAsync(GAP_WARMUP, AFTER_GAP, GAP_MS, async () => {
          await pipe.send(message);
          await pipe.recv();
        }),
      ),
    'shmkit Pipe, sendSync / recvSync, 1 ms idle gap': () =>
      withPipe('pipe-sync', (pipe) =>
        timeAsync(GAP_WARMUP, AFTER_GAP, GAP_MS, () => {
          pipe.sendSync(message);
          pipe.recvSync();
        }),
      ),
    'Unix socket, 1 ms idle gap': () =>
      withSocket('socket-echo', [], (s) => timeAsync(GAP_WARMUP, AFTER_GAP, GAP_MS, async () => fromWire(await socketRoundTrip(s, toWire(message))))),
  };
}

/**
 * Each row ROUNDS times in fresh processes, interleaved with its peers so
 * that machine noise hits them alike; the samples of all rounds pooled.
 */
export async function run(progress = () => {}) {
  const samples = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const shape of chosen) {
      samples[shape] ??= {};
      for (const [row, measure] of Object.entries(rows(shape))) {
        samples[shape][row] ??= [];
        samples[shape][row].push(...(await measure()));
      }
    }
    progress(`messages: round ${r + 1}/${ROUNDS}`);
  }
  const us = Object.fromEntries(
    Object.entries(samples).map(([shape, table]) => [shape, Object.fromEntries(Object.entries(table).map(([row, s]) => [row, summary(s)]))]),
  );
  return { machine: machine(), rounds: ROUNDS, warmup: WARMUP, us };
}

const SOCKET_OF = {
  'shmkit Pipe, sendSync / recvSync': 'Unix socket',
  'shmkit Pipe, async send / recv': 'Unix socket',
  'shmkit Queue, putSync / getSync': 'Unix socket',
  'shmkit Queue, async put / get': 'Unix socket',
  'shmkit Pipe, async, 1 ms idle gap': 'Unix socket, 1 ms idle gap',
  'shmkit Pipe, sendSync / recvSync, 1 ms idle gap': 'Unix socket, 1 ms idle gap',
};

export function print(result) {
  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  console.log(`Message round trips between two processes (${result.machine}); us per round trip, ${result.rounds} fresh pairs pooled`);
  for (const [shape, table] of Object.entries(result.us)) {
    console.log(`\n  ${shape}${' '.repeat(38 - shape.length)} ${'median'.padStart(8)} ${'p99'.padStart(8)} ${'mean'.padStart(8)}  socket/this (median)`);
    for (const [row, s] of Object.entries(table)) {
      const socket = table[SOCKET_OF[row]];
      const ratio = socket ? `${(socket.median / s.median).toFixed(1)}x` : '';
      console.log(`    ${row.padEnd(36)} ${f(s.median).padStart(8)} ${f(s.p99).padStart(8)} ${f(s.mean).padStart(8)}  ${ratio}`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) print(await run((line) => console.error(line)));

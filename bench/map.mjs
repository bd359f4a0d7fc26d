// SharedMap against what a Node program would otherwise share a dictionary
// through, every contestant measured in the same run:
//   - lmdb-js in this process: `get` with its default msgpack encoding, and
//     `putSync` on an environment opened with `noSync: true`;
//   - Redis 7 through ioredis over a Unix socket: a private redis-server in a
//     temporary folder, no persistence (bench/redis.mjs); objects stored as
//     JSON, as a Redis user stores them (JSON.parse / JSON.stringify are
//     timed with the command), strings as they are;
//   - Python's multiprocessing.Manager().dict() (bench/py_manager_dict.py):
//     the Manager's server process serves the dict on a Unix socket with its
//     authkey, and the Python client times each proxy call itself
//     (perf_counter_ns): Node cannot speak the Manager's pickle protocol, so
//     these figures are Python's own, with no Node in the path.
// Rows: `get` of a ~100-byte object, `get` of a short string, `set` of the
// object, each on random keys out of 10,000: median and p99 of MAP_BENCH_OPS
// operations (default 20,000) per contestant, in MAP_BENCH_ROUNDS (5) rounds
// interleaved across contestants, after a 2,000-operation warm-up of each
// timing loop (MAP_BENCH_WARMUP). In-process contestants (SharedMap, lmdb):
// the median is of 10-operation batches timed with process.hrtime.bigint()
// and divided by 10 (a pair of hrtime.bigint() calls costs about 40 ns, a
// quarter of what a SharedMap get should cost), the p99 is of the same
// number of operations timed one by one (the 40 ns are noise next to a
// microsecond tail). Redis: each `await` timed on its own.
// Throughput (bench/map-worker.mjs, fresh processes): one process against two
// reading random keys together, and writing each its own keys, for SharedMap
// and lmdb: operations in a common window of MAP_SCALING_MS (300) ms,
// MAP_SCALING_ROUNDS (3) interleaved rounds. Redis only with
// MAP_SCALING_REDIS=1: two clients of one single-threaded server on 2 vCPUs
// say little about SharedMap, and its rows add about 10 s to the run.
// lmdb's workers open this process's environment (same path) with the same
// options (LMDB_OPTIONS), and no worker writes before every worker of the
// measurement has opened it: a process that opens an LMDB environment while
// another commits can break that writer (bench/map-worker.mjs says how).
// A contestant whose process (or call) fails gets a failed row, with the
// error's first line, instead of ending the run; it is not measured again in
// that table. Everything started is stopped and removed all the same.
// SharedMap is taken from the build (dist/, or MAP_BENCH_MODULE); while the
// build exports none, only the peers run. Redis and Python are skipped, with
// a line saying so, where redis-server (or ioredis) or python3 is missing.
//   node bench/map.mjs
//   MAP_BENCH_OPS=2000 MAP_SCALING_MS=100 MAP_SCALING_ROUNDS=1 node bench/map.mjs   (a quick check)
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { exited, machine, uid } from './lib.mjs';
import { loadSharedMap, makeObject, makeString, objectKey, randomOrder, stringKey } from './map-data.mjs';
import { redisMissing, startRedis } from './redis.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = (name, fallback) => Number(process.env[name] ?? fallback);
const OPS = env('MAP_BENCH_OPS', 20_000);
const ROUNDS = env('MAP_BENCH_ROUNDS', 5);
const WARMUP = env('MAP_BENCH_WARMUP', 2_000);
const SCALING_MS = env('MAP_SCALING_MS', 300);
const SCALING_ROUNDS = env('MAP_SCALING_ROUNDS', 3);
const BATCH = 10;
const KEYS = 10_000;
const MAP_BYTES = 32 << 20;
const MASK = 0xffff;
/** How every process opens the lmdb environment: this one and each throughput worker. */
const LMDB_OPTIONS = { noSync: true };
/** A worker that has not answered a step within this long has failed. */
const WORKER_STEP_MS = 60_000;

const ROWS = {
  getObject: 'get, ~100-byte object',
  getString: 'get, short string',
  setObject: 'set, ~100-byte object',
};
const LABELS = {
  SharedMap: { getObject: 'shmkit SharedMap get', getString: 'shmkit SharedMap get', setObject: 'shmkit SharedMap set' },
  lmdb: { getObject: 'lmdb get (msgpack)', getString: 'lmdb get (msgpack)', setObject: 'lmdb putSync (noSync: true)' },
  Redis: {
    getObject: 'Redis GET + JSON.parse (ioredis, Unix socket)',
    getString: 'Redis GET (ioredis, Unix socket)',
    setObject: 'Redis SET JSON.stringify (ioredis)',
  },
  'Manager dict': {
    getObject: 'Python Manager().dict() d[key] (timed in Python)',
    getString: 'Python Manager().dict() d[key] (timed in Python)',
    setObject: 'Python Manager().dict() d[key] = obj (timed in Python)',
  },
};

const objectKeys = Array.from({ length: KEYS }, (_, i) => objectKey(i));
const stringKeys = Array.from({ length: KEYS }, (_, i) => stringKey(i));
const values = Array.from({ length: 100 }, (_, i) => makeObject(i));
const order = randomOrder(MASK + 1, KEYS);
const rowKeys = { getObject: objectKeys, getString: stringKeys, setObject: objectKeys };

/**
 * Timing loops for one in-process contestant and row, compiled on their own
 * (new Function) so that V8's inline caches see only this contestant's store,
 * as in a program that uses one store. `op` is an expression over store,
 * keys, order, values and the running position p.
 */
function compileLoops(op) {
  const batched = new Function(
    'store',
    'keys',
    'order',
    'values',
    'p0',
    'out',
    'batch',
    `let p = p0, last;
    for (let b = 0; b < out.length; b++) {
      const t0 = process.hrtime.bigint();
      for (let j = 0; j < batch; j++, p++) last = ${op};
      out[b] = Number(process.hrtime.bigint() - t0) / batch;
    }
    return last;`,
  );
  const single = new Function(
    'store',
    'keys',
    'order',
    'values',
    'p0',
    'out',
    `let p = p0, last;
    for (let i = 0; i < out.length; i++, p++) {
      const t0 = process.hrtime.bigint();
      last = ${op};
      out[i] = Number(process.hrtime.bigint() - t0);
    }
    return last;`,
  );
  return { batched, single };
}

const GET = `store.get(keys[order[p & ${MASK}]])`;

/** An error's first line, for a failed row. */
const firstLine = (err) => String(err).split('\n')[0];

/** An in-process contestant: measure(row, n, p0) -> { batched, single } ns per op. */
function inProcess(store, ops) {
  const loops = Object.fromEntries(Object.entries(ops).map(([row, op]) => [row, compileLoops(op)]));
  const warmed = new Set();
  return (row, n, p0) => {
    const { batched, single } = loops[row];
    const keys = rowKeys[row];
    if (!warmed.has(row)) {
      warmed.add(row);
      batched(store, keys, order, values, p0, new Float64Array(Math.ceil(WARMUP / BATCH)), BATCH);
      single(store, keys, order, values, p0, new Float64Array(WARMUP));
    }
    const b = new Float64Array(Math.ceil(n / BATCH));
    batched(store, keys, order, values, p0, b, BATCH);
    const s = new Float64Array(n);
    single(store, keys, order, values, p0 + n, s);
    return { batched: b, single: s };
  };
}

/** Redis through ioredis: each command timed around its await. */
function redisContestant(redis) {
  const run = {
    async getObject(keys, p, out) {
      for (let i = 0; i < out.length; i++, p++) {
        const key = keys[order[p & MASK]];
        const t0 = process.hrtime.bigint();
        JSON.parse(await redis.get(key));
        out[i] = Number(process.hrtime.bigint() - t0);
      }
    },
    async getString(keys, p, out) {
      for (let i = 0; i < out.length; i++, p++) {
        const key = keys[order[p & MASK]];
        const t0 = process.hrtime.bigint();
        await redis.get(key);
        out[i] = Number(process.hrtime.bigint() - t0);
      }
    },
    async setObject(keys, p, out) {
      for (let i = 0; i < out.length; i++, p++) {
        const key = keys[order[p & MASK]];
        const value = values[p % 100];
        const t0 = process.hrtime.bigint();
        await redis.set(key, JSON.stringify(value));
        out[i] = Number(process.hrtime.bigint() - t0);
      }
    },
  };
  const warmed = new Set();
  return async (row, n, p0) => {
    if (!warmed.has(row)) {
      warmed.add(row);
      await run[row](rowKeys[row], p0, new Float64Array(WARMUP));
    }
    const single = new Float64Array(n);
    await run[row](rowKeys[row], p0, single);
    return { single };
  };
}

/** The Python helper: a Manager().dict() and a client that times itself. */
async function startPython() {
  // The Manager's socket goes in a folder of ours (TMPDIR), removed whatever happens.
  const tmp = mkdtempSync(join(os.tmpdir(), 'shmkit-bench-python-'));
  const removeTmp = () => rmSync(tmp, { recursive: true, force: true });
  const child = spawn('python3', [join(here, 'py_manager_dict.py'), String(KEYS)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: tmp },
  });
  // Its stderr goes on to ours; the last line (a traceback's error) is kept for a failed row.
  let lastErrorLine = '';
  createInterface({ input: child.stderr }).on('line', (line) => {
    console.error(line);
    if (line.trim()) lastErrorLine = line.trim();
  });
  child.stdin.on('error', () => {}); // it ended: the next answer says so
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let serverPid;
  const onExit = () => {
    child.kill('SIGKILL');
    try {
      if (serverPid) process.kill(serverPid, 'SIGKILL');
    } catch {}
    removeTmp();
  };
  process.once('exit', onExit);
  // Its exit ends the conversation, though the Manager's server process (its child) may hold the stdout pipe open.
  const gone = exited(child).then(() => ({ done: true }));
  const ask = async (command) => {
    if (command) child.stdin.write(`${command}\n`);
    const { value, done } = await Promise.race([lines.next(), gone]);
    if (done) {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited(child);
      clearTimeout(timer);
      throw new Error(`bench/py_manager_dict.py ended (${child.exitCode ?? child.signalCode})${lastErrorLine ? `: ${lastErrorLine}` : ''}`);
    }
    return JSON.parse(value);
  };
  const stop = async () => {
    process.off('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin.end('quit\n');
      const timer = setTimeout(() => child.kill('SIGTERM'), 5000);
      await exited(child);
      clearTimeout(timer);
    }
    // The Manager's server process ends with the client; make sure of it.
    if (serverPid) {
      try {
        process.kill(serverPid, 0);
        process.kill(serverPid, 'SIGKILL');
      } catch {}
    }
    removeTmp();
  };
  try {
    const ready = await ask();
    serverPid = ready.server_pid;
    const commands = { getObject: 'get-object', getString: 'get-string', setObject: 'set-object' };
    const warmed = new Set();
    const measure = async (row, n) => {
      if (!warmed.has(row)) {
        warmed.add(row);
        await ask(`warm ${commands[row]} ${WARMUP}`);
      }
      return { single: Float64Array.from(await ask(`time ${commands[row]} ${n}`)) };
    };
    return { measure, stop, version: ready.python };
  } catch (err) {
    await stop();
    throw err;
  }
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function summary(chunks) {
  const all = new Float64Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  all.sort();
  return { median: percentile(all, 0.5), p99: percentile(all, 0.99), count: all.length };
}

/** Median ns of an empty hrtime.bigint() pair: what timing one operation adds. */
function timerPairNs() {
  const out = new Float64Array(20_000);
  for (let i = 0; i < out.length; i++) {
    const t0 = process.hrtime.bigint();
    out[i] = Number(process.hrtime.bigint() - t0);
  }
  return percentile(out.sort(), 0.5);
}

/** An error a worker reported, as its first line ("Error: ..."). */
class WorkerError extends Error {
  toString() {
    return this.message;
  }
}

/**
 * The worker's next message with `key`; rejects with the error it sends, when
 * it exits first, or when it is silent for `ms`.
 */
function reply(child, key, ms = WORKER_STEP_MS) {
  return new Promise((resolve, reject) => {
    const fail = (err) => {
      done();
      reject(err);
    };
    const onMessage = (m) => {
      if (m?.error !== undefined) fail(new WorkerError(m.error));
      else if (m?.[key] !== undefined) {
        done();
        resolve(m);
      }
    };
    // After 'disconnect' every message it sent has arrived; then its exit code.
    const onGone = () => {
      done();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      exited(child).then(() => {
        clearTimeout(kill);
        reject(new Error(`bench/map-worker.mjs exited (${child.exitCode ?? child.signalCode}) before answering`));
      });
    };
    const timer = setTimeout(() => fail(new Error(`bench/map-worker.mjs did not answer within ${ms / 1000} s`)), ms);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('disconnect', onGone);
    };
    child.on('message', onMessage);
    if (child.connected) child.once('disconnect', onGone);
    else onGone();
  });
}

/**
 * { rate, cpus } of `processes` workers running `cfg` together for SCALING_MS:
 * operations per second, and the CPUs they had (CPU time / window; on a
 * shared 2-vCPU machine two workers may get less than 2).
 */
async function throughput(cfg, processes) {
  const workers = [];
  let answered = false;
  try {
    for (let index = 0; index < processes; index++) {
      workers.push(fork(join(here, 'map-worker.mjs'), [JSON.stringify({ ...cfg, index, keys: KEYS, warmup: WARMUP })], { stdio: 'inherit' }));
    }
    // No worker writes before all have opened the store (LMDB: see bench/map-worker.mjs).
    await Promise.all(workers.map((w) => reply(w, 'opened')));
    for (const w of workers) w.send({ setUp: true });
    await Promise.all(workers.map((w) => reply(w, 'ready')));
    const startNs = process.hrtime.bigint() + 30_000_000n;
    const results = workers.map((w) => reply(w, 'ops', SCALING_MS + WORKER_STEP_MS));
    for (const w of workers) w.send({ startNs: String(startNs), durationMs: SCALING_MS });
    const done = await Promise.all(results);
    answered = true;
    return {
      rate: done.reduce((sum, d) => sum + d.ops / (d.elapsedNs / 1e9), 0),
      cpus: done.reduce((sum, d) => sum + (d.cpuUs * 1000) / d.elapsedNs, 0),
    };
  } finally {
    for (const w of workers) {
      if (w.exitCode === null && w.signalCode === null) {
        if (!answered) w.kill('SIGKILL'); // its peer failed: it would wait for a start forever
        const timer = setTimeout(() => w.kill('SIGKILL'), 5000);
        await exited(w);
        clearTimeout(timer);
      }
    }
  }
}

function check(label, got, expected) {
  if (!isDeepStrictEqual(got, expected)) throw new Error(`${label} returned ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
}

export async function run(progress = () => {}) {
  const skipped = {};
  const versions = { node: process.version };
  const closers = [];
  const onSignal = () => process.exit(130); // runs the 'exit' hooks that kill what was started
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const contestants = {};
  const scaling = {};
  const failed = {}; // contestant -> the first line of the error its set-up or a latency row ended with
  /** Sets up a peer; a failure there makes its rows failed rows, not the end of the run. */
  const setUpPeer = async (name, body) => {
    try {
      await body();
    } catch (err) {
      failed[name] = firstLine(err);
      progress(`map: ${name} failed: ${failed[name]}`);
    }
  };
  try {
    const SharedMap = await loadSharedMap();
    if (SharedMap) {
      const name = uid('bmap');
      const map = SharedMap.create(name, { size: MAP_BYTES });
      const unlinkAtExit = () => {
        try {
          SharedMap.unlink(name);
        } catch {}
      };
      process.once('exit', unlinkAtExit);
      closers.push(() => {
        try {
          map.close();
        } finally {
          SharedMap.unlink(name);
          process.off('exit', unlinkAtExit);
        }
      });
      for (let i = 0; i < KEYS; i++) {
        map.set(objectKeys[i], makeObject(i));
        map.set(stringKeys[i], makeString(i));
      }
      check('SharedMap get', [map.get(objectKeys[4217]), map.get(stringKeys[4217])], [makeObject(4217), makeString(4217)]);
      contestants.SharedMap = inProcess(map, { getObject: GET, getString: GET, setObject: `store.set(keys[order[p & ${MASK}]], values[p % 100])` });
      scaling.SharedMap = { kind: 'sharedmap', name };
    } else {
      skipped.SharedMap = 'not built yet';
    }

    let lmdb;
    try {
      lmdb = await import('lmdb');
    } catch {
      skipped.lmdb = 'lmdb not installed (npm install)';
    }
    if (lmdb) {
      await setUpPeer('lmdb', async () => {
        const path = mkdtempSync(join(os.tmpdir(), 'shmkit-bench-lmdb-'));
        const removeAtExit = () => rmSync(path, { recursive: true, force: true });
        process.once('exit', removeAtExit);
        let db;
        closers.push(async () => {
          try {
            await db?.close();
          } finally {
            removeAtExit();
            process.off('exit', removeAtExit);
          }
        });
        db = lmdb.open({ ...LMDB_OPTIONS, path });
        db.transactionSync(() => {
          for (let i = 0; i < KEYS; i++) {
            db.put(objectKeys[i], makeObject(i));
            db.put(stringKeys[i], makeString(i));
          }
        });
        check('lmdb get', [db.get(objectKeys[4217]), db.get(stringKeys[4217])], [makeObject(4217), makeString(4217)]);
        contestants.lmdb = inProcess(db, { getObject: GET, getString: GET, setObject: `store.putSync(keys[order[p & ${MASK}]], values[p % 100])` });
        scaling.lmdb = { kind: 'lmdb', path, options: LMDB_OPTIONS };
      });
    }

    const noRedis = await redisMissing();
    if (noRedis) {
      skipped.Redis = noRedis;
    } else {
      await setUpPeer('Redis', async () => {
        const server = await startRedis();
        closers.push(() => server.stop());
        versions.redis = server.version;
        const { default: Redis } = await import('ioredis');
        const redis = new Redis({ path: server.socket });
        redis.on('error', () => {}); // a command that fails says why; no reconnection messages meanwhile
        closers.push(() => redis.quit());
        const fill = redis.pipeline();
        for (let i = 0; i < KEYS; i++) fill.set(objectKeys[i], JSON.stringify(makeObject(i))).set(stringKeys[i], makeString(i));
        await fill.exec();
        check('Redis GET', [JSON.parse(await redis.get(objectKeys[4217])), await redis.get(stringKeys[4217])], [makeObject(4217), makeString(4217)]);
        contestants.Redis = redisContestant(redis);
        if (process.env.MAP_SCALING_REDIS === '1') scaling.Redis = { kind: 'redis', socket: server.socket };
      });
    }

    if (spawnSync('python3', ['--version']).status !== 0) {
      skipped['Manager dict'] = 'python3 not found';
    } else {
      await setUpPeer('Manager dict', async () => {
        const python = await startPython();
        closers.push(() => python.stop());
        versions.python = python.version;
        contestants['Manager dict'] = python.measure;
      });
    }
    progress(`map: contestants ready (${Object.keys(contestants).join(', ')})`);

    const perRound = Math.ceil(OPS / ROUNDS / BATCH) * BATCH;
    const latency = {};
    for (const row of Object.keys(ROWS)) {
      const chunks = Object.fromEntries(Object.keys(contestants).map((k) => [k, { batched: [], single: [] }]));
      for (let r = 0; r < ROUNDS; r++) {
        const p0 = r * 2 * perRound;
        for (const [name, measure] of Object.entries(contestants)) {
          if (failed[name]) continue;
          try {
            const { batched, single } = await measure(row, perRound, p0);
            if (batched) chunks[name].batched.push(batched);
            chunks[name].single.push(single);
          } catch (err) {
            failed[name] = `${firstLine(err)} (${ROWS[row]}, round ${r + 1})`;
            progress(`map: ${name} failed: ${failed[name]}`);
          }
        }
      }
      latency[row] = {};
      for (const [name, { batched, single }] of Object.entries(chunks)) {
        if (failed[name]) {
          latency[row][name] = { failed: failed[name] };
          continue;
        }
        const s = summary(single);
        const b = batched.length ? summary(batched) : undefined;
        latency[row][name] = { median: b ? b.median : s.median, p99: s.p99, ops: s.count, single: s, ...(b && { batches: { ...b, of: BATCH } }) };
      }
      for (const name of Object.keys(failed)) latency[row][name] ??= { failed: failed[name] };
      progress(`map: ${ROWS[row]} done`);
    }

    const throughputs = { get: {}, set: {} };
    const tp = Object.fromEntries(
      Object.keys(throughputs).map((op) => [op, Object.fromEntries(Object.keys(scaling).map((k) => [k, { one: [], two: [], cpusOne: [], cpusTwo: [] }]))]),
    );
    for (let r = 0; r < SCALING_ROUNDS; r++) {
      for (const [name, cfg] of Object.entries(scaling)) {
        for (const op of Object.keys(throughputs)) {
          for (const [processes, rates, cpus] of [
            [1, 'one', 'cpusOne'],
            [2, 'two', 'cpusTwo'],
          ]) {
            if (tp[op][name].failed) continue;
            try {
              const { rate, cpus: used } = await throughput({ ...cfg, op }, processes);
              tp[op][name][rates].push(rate);
              tp[op][name][cpus].push(used);
            } catch (err) {
              tp[op][name].failed = `${firstLine(err)} (${processes} process${processes === 1 ? '' : 'es'}, round ${r + 1})`;
              progress(`map: throughput, ${op} ${name} failed: ${tp[op][name].failed}`);
            }
          }
        }
      }
      progress(`map: throughput round ${r + 1}/${SCALING_ROUNDS}`);
    }
    const med = (xs) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
    for (const [op, byName] of Object.entries(tp)) {
      for (const [name, { one, two, cpusOne, cpusTwo, failed: why }] of Object.entries(byName)) {
        if (why) {
          throughputs[op][name] = { failed: why };
          continue;
        }
        const s = (xs) => ({ median: med(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length });
        throughputs[op][name] = { one: s(one), two: s(two), ratio: med(two) / med(one), cpus: { one: med(cpusOne), two: med(cpusTwo) } };
      }
    }

    const result = {
      machine: machine(),
      versions,
      ops: perRound * ROUNDS,
      rounds: ROUNDS,
      warmup: WARMUP,
      keys: KEYS,
      batch: BATCH,
      objectJsonBytes: JSON.stringify(makeObject(4217)).length,
      stringBytes: makeString(4217).length,
      timerPairNs: timerPairNs(),
      sharedMap: !skipped.SharedMap,
      skipped,
      failed,
      latencyNs: latency,
      scalingMs: SCALING_MS,
      scalingRounds: SCALING_ROUNDS,
      throughputOpsPerSec: throughputs,
    };
    result.targets = ratios(result);
    return result;
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        console.error(`map: cleanup: ${err.message}`);
      }
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** SharedMap against the targets; undefined while SharedMap is not built (a figure whose contestant failed: NaN or undefined). */
export function ratios(result) {
  if (!result.sharedMap) return undefined;
  const l = result.latencyNs;
  const t = result.throughputOpsPerSec;
  const sm = (row) => l[row].SharedMap?.median;
  const peer = (row, name) => l[row][name]?.median;
  return {
    getObjectVsLmdb: sm('getObject') / peer('getObject', 'lmdb'),
    getObjectP99Us: l.getObject.SharedMap?.p99 / 1000,
    getObjectRedisX: peer('getObject', 'Redis') / sm('getObject'),
    getObjectManagerX: peer('getObject', 'Manager dict') / sm('getObject'),
    getStringUs: sm('getString') / 1000,
    setVsLmdb: sm('setObject') / peer('setObject', 'lmdb'),
    setRedisX: peer('setObject', 'Redis') / sm('setObject'),
    readers: t.get.SharedMap?.ratio,
    writers: t.set.SharedMap?.ratio,
  };
}

const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

/**
 * The targets as limits on SharedMap's own figures, set by this run's peers
 * where they are relative: { what, unit, bar, goal, higher, value, peer }.
 * value is undefined while SharedMap is not built or where its row failed,
 * bar where the peer (named by peer) did not run or failed.
 */
export function targets(result) {
  const l = result.latencyNs;
  const t = result.throughputOpsPerSec;
  const us = (row, name, q = 'median') => (l[row][name] && !l[row][name].failed ? l[row][name][q] / 1000 : undefined);
  const ratio = (op) => (t[op].SharedMap && !t[op].SharedMap.failed ? t[op].SharedMap.ratio : undefined);
  const times = (x, k) => (x === undefined ? undefined : x * k);
  const mine = (x) => (result.sharedMap ? x() : undefined);
  const lmdbGet = us('getObject', 'lmdb');
  const lmdbPut = us('setObject', 'lmdb');
  return [
    {
      what: "get object, median <= lmdb get's (goal 0.5x)",
      unit: 'us',
      bar: lmdbGet,
      goal: times(lmdbGet, 0.5),
      peer: 'lmdb',
      value: mine(() => us('getObject', 'SharedMap')),
    },
    { what: 'get object, p99 <= 3 us', unit: 'us', bar: 3, value: mine(() => us('getObject', 'SharedMap', 'p99')) },
    {
      what: 'get object, >= 10x faster than Redis GET',
      unit: 'us',
      bar: times(us('getObject', 'Redis'), 1 / 10),
      peer: 'Redis',
      value: mine(() => us('getObject', 'SharedMap')),
    },
    {
      what: 'get object, >= 15x faster than the Manager dict',
      unit: 'us',
      bar: times(us('getObject', 'Manager dict'), 1 / 15),
      peer: 'Manager dict',
      value: mine(() => us('getObject', 'SharedMap')),
    },
    { what: 'get short string, median <= 0.3 us (goal 0.15 us)', unit: 'us', bar: 0.3, goal: 0.15, value: mine(() => us('getString', 'SharedMap')) },
    {
      what: "set object, median <= 1/3 lmdb putSync's (goal 1/6)",
      unit: 'us',
      bar: times(lmdbPut, 1 / 3),
      goal: times(lmdbPut, 1 / 6),
      peer: 'lmdb',
      value: mine(() => us('setObject', 'SharedMap')),
    },
    {
      what: 'set object, >= 10x faster than Redis SET',
      unit: 'us',
      bar: times(us('setObject', 'Redis'), 1 / 10),
      peer: 'Redis',
      value: mine(() => us('setObject', 'SharedMap')),
    },
    { what: '2 processes reading, >= 1.7x one', unit: 'x', bar: 1.7, higher: true, value: mine(() => ratio('get')) },
    { what: '2 processes writing own keys, >= 1.4x one', unit: 'x', bar: 1.4, higher: true, value: mine(() => ratio('set')) },
  ];
}

function verdict({ bar, goal, higher, value, peer }, result) {
  if (bar === undefined) return result.failed?.[peer] ? `${peer} failed` : 'no peer in this run';
  if (value === undefined) return result.sharedMap ? 'SharedMap failed' : 'SharedMap not built yet';
  const ok = (limit) => (higher ? value >= limit : value <= limit);
  if (!ok(bar)) return 'MISSED';
  return goal === undefined || ok(goal) ? 'met' : 'met, goal missed';
}

export function print(result) {
  console.log(
    `SharedMap and its peers (${result.machine}); ${result.ops.toLocaleString('en')} operations per contestant and row in ${result.rounds} interleaved round${result.rounds === 1 ? '' : 's'}, ` +
      `${result.warmup.toLocaleString('en')}-operation warm-up, random keys of ${result.keys.toLocaleString('en')}; us per operation`,
  );
  for (const [name, why] of Object.entries(result.skipped)) console.log(`  ${name}: ${why}, skipped`);
  console.log(
    `  SharedMap, lmdb: median of ${result.batch}-operation batches (an hrtime.bigint() pair costs ${result.timerPairNs} ns here), p99 of single operations; ` +
      'Redis: each await timed in Node; Manager dict: timed in Python around each proxy call',
  );
  const sizes = { getObject: ` (${result.objectJsonBytes} bytes as JSON)`, getString: ` (${result.stringBytes} characters)`, setObject: '' };
  for (const [row, byName] of Object.entries(result.latencyNs)) {
    console.log(`\n  ${`${ROWS[row]}${sizes[row]}`.padEnd(62)} ${'median'.padStart(9)} ${'p99'.padStart(9)}`);
    for (const [name, s] of Object.entries(byName)) {
      const figures = s.failed ? `  FAILED: ${s.failed}` : ` ${f(s.median / 1000).padStart(9)} ${f(s.p99 / 1000).padStart(9)}`;
      console.log(`    ${LABELS[name][row].padEnd(60)}${figures}`);
    }
  }
  console.log(
    `\n  Throughput, M operations/s over ${result.scalingMs} ms windows, median${result.scalingRounds === 1 ? '' : 's'} of ${result.scalingRounds} round${result.scalingRounds === 1 ? '' : 's'} [min..max]: 1 process, 2 processes together, 2 / 1, CPUs they had (1 / 2)` +
      (result.throughputOpsPerSec.get.Redis ? '' : ' (Redis: MAP_SCALING_REDIS=1)'),
  );
  const rate = (s) => `${f(s.median / 1e6)} [${f(s.min / 1e6)}..${f(s.max / 1e6)}]`.padStart(24);
  for (const [op, byName] of Object.entries(result.throughputOpsPerSec)) {
    const what = op === 'get' ? 'read random keys' : 'write own keys  ';
    for (const [name, s] of Object.entries(byName)) {
      if (s.failed) {
        console.log(`    ${what} ${name.padEnd(10)}  FAILED: ${s.failed}`);
        continue;
      }
      const cpus = s.cpus ? `${s.cpus.one.toFixed(2)} / ${s.cpus.two.toFixed(2)}` : '';
      console.log(`    ${what} ${name.padEnd(10)} ${rate(s.one)} ${rate(s.two)} ${`${s.ratio.toFixed(2)}x`.padStart(7)} ${cpus.padStart(12)}`);
    }
  }
  console.log(
    `\n  Targets for SharedMap, as limits from this run's peers:${''.padEnd(11)} ${'limit'.padStart(13)} ${'goal'.padStart(9)} ${'SharedMap'.padStart(10)}`,
  );
  const cell = (x, unit, width) => (x === undefined ? '' : unit === 'x' ? `${x.toFixed(2)}x` : `${f(x)} us`).padStart(width);
  for (const target of targets(result)) {
    const { what, unit, bar, goal, higher, value } = target;
    const limit = bar === undefined ? '' : `${higher ? '>=' : '<='} ${cell(bar, unit, 0)}`;
    console.log(`    ${what.padEnd(64)} ${limit.padStart(13)} ${cell(goal, unit, 9)} ${cell(value, unit, 10)}  ${verdict(target, result)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) print(await run((line) => console.error(line)));

// A node:cluster HTTP server with 2 workers, where each request reads a cached
// ~100-byte object and increments a shared counter, three ways in one run
// (bench/map-cluster-server.mjs): SharedMap (`get` + `increment`), Redis
// through ioredis over a Unix socket (GET + INCR; a private redis-server,
// bench/redis.mjs), and a cache held in the cluster primary, asked over the
// cluster's IPC channel (`process.send` request/reply). Load from autocannon
// in this process (on the same 2 vCPUs as the servers: the load generator
// costs every variant alike), MAP_CLUSTER_CONNECTIONS (10) connections;
// MAP_CLUSTER_SECONDS (20) s per variant, split into MAP_CLUSTER_ROUNDS (2)
// rounds interleaved across the variants, after a MAP_CLUSTER_WARMUP (1) s
// warm-up of each. Requests/s count 2xx answers; latencies are every
// answer's, as autocannon timed it (its 'response' events, kept exactly
// rather than in its 1 ms histogram). After the run the shared counter must
// equal the answers counted: a variant that loses increments is reported.
//   node bench/map-cluster.mjs
//   MAP_CLUSTER_SECONDS=2 MAP_CLUSTER_WARMUP=0.5 node bench/map-cluster.mjs   (a quick check)
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, machine, uid } from './lib.mjs';
import { loadSharedMap } from './map-data.mjs';
import { redisMissing, startRedis } from './redis.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = (name, fallback) => Number(process.env[name] ?? fallback);
const SECONDS = env('MAP_CLUSTER_SECONDS', 20);
const ROUNDS = env('MAP_CLUSTER_ROUNDS', 2);
const WARMUP = env('MAP_CLUSTER_WARMUP', 1);
const CONNECTIONS = env('MAP_CLUSTER_CONNECTIONS', 10);

const LABELS = {
  sharedmap: 'SharedMap get + increment',
  redis: 'Redis GET + INCR (ioredis, Unix socket)',
  ipc: 'cache in the cluster primary (process.send request/reply)',
};

/** Forks the cluster primary for `variant`; resolves to { port, stop() -> hits }. */
async function startServer(variant, target) {
  const child = fork(join(here, 'map-cluster-server.mjs'), target === undefined ? [variant] : [variant, target], { stdio: 'inherit' });
  const killAtExit = () => child.kill('SIGKILL');
  process.once('exit', killAtExit);
  const reply = () =>
    new Promise((resolve, reject) => {
      const onExit = (code, signal) => reject(new Error(`bench/map-cluster-server.mjs ${variant} exited (${code ?? signal})`));
      child.once('exit', onExit);
      child.once('message', (m) => {
        child.off('exit', onExit);
        resolve(m);
      });
    });
  const stop = async () => {
    process.off('exit', killAtExit);
    let hits;
    if (child.connected) {
      const answer = reply();
      child.send({ stop: true });
      hits = (await answer.catch(() => ({}))).hits;
    }
    if (child.exitCode === null && child.signalCode === null) {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited(child);
      clearTimeout(timer);
    }
    return hits;
  };
  try {
    const { port } = await reply();
    return { port, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One autocannon run of `seconds` against `port`: { ok, errors, non2xx, seconds, latenciesMs }. */
async function load(autocannon, port, seconds) {
  const latenciesMs = [];
  const instance = autocannon({ url: `http://127.0.0.1:${port}/user/42`, connections: CONNECTIONS, duration: seconds });
  instance.on('response', (_client, statusCode, _bytes, ms) => {
    if (statusCode === 200) latenciesMs.push(ms);
  });
  const result = await instance;
  return { ok: result['2xx'], errors: result.errors + result.timeouts, non2xx: result.non2xx, seconds: result.duration, latenciesMs };
}

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];

export async function run(progress = () => {}) {
  const skipped = {};
  let autocannon;
  try {
    ({ default: autocannon } = await import('autocannon'));
  } catch {
    return { machine: machine(), skipped: { all: 'autocannon not installed (npm install)' } };
  }
  const closers = [];
  const onSignal = () => process.exit(130); // runs the 'exit' hooks that kill what was started
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const servers = {};
  const counted = {};
  try {
    const SharedMap = await loadSharedMap();
    if (SharedMap) {
      const name = uid('bmapc');
      const unlinkIfLeft = () => {
        try {
          SharedMap.unlink(name); // the server's primary unlinks it; this is for a primary that died
        } catch {}
      };
      process.once('exit', unlinkIfLeft);
      closers.push(() => {
        unlinkIfLeft();
        process.off('exit', unlinkIfLeft);
      });
      servers.sharedmap = await startServer('sharedmap', name);
      closers.push(() => servers.sharedmap.stop());
    } else {
      skipped.SharedMap = 'not built yet';
    }
    const noRedis = await redisMissing();
    if (noRedis) {
      skipped.Redis = noRedis;
    } else {
      const redis = await startRedis();
      closers.push(() => redis.stop());
      servers.redis = await startServer('redis', redis.socket);
      closers.push(() => servers.redis.stop());
    }
    servers.ipc = await startServer('ipc');
    closers.push(() => servers.ipc.stop());
    progress(`mapCluster: servers up (${Object.keys(servers).join(', ')})`);

    const runs = Object.fromEntries(Object.keys(servers).map((v) => [v, []]));
    for (const [variant, { port }] of Object.entries(servers)) {
      const warm = await load(autocannon, port, WARMUP);
      counted[variant] = warm.ok;
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const [variant, { port }] of Object.entries(servers)) {
        const one = await load(autocannon, port, SECONDS / ROUNDS);
        counted[variant] += one.ok;
        runs[variant].push(one);
      }
      progress(`mapCluster: round ${r + 1}/${ROUNDS}`);
    }

    const variants = {};
    // Stop the servers now, to read their counters.
    for (const [variant, server] of Object.entries(servers)) {
      const hits = await server.stop();
      const all = Float64Array.from(runs[variant].flatMap((x) => x.latenciesMs)).sort();
      const rates = runs[variant].map((x) => x.ok / x.seconds);
      const ok = runs[variant].reduce((n, x) => n + x.ok, 0);
      const seconds = runs[variant].reduce((n, x) => n + x.seconds, 0);
      variants[variant] = {
        requestsPerSec: ok / seconds,
        perRound: rates,
        latencyMs: { p50: percentile(all, 0.5), p99: percentile(all, 0.99) },
        requests: ok,
        errors: runs[variant].reduce((n, x) => n + x.errors, 0),
        non2xx: runs[variant].reduce((n, x) => n + x.non2xx, 0),
        counter: { hits, answered: counted[variant] },
      };
    }
    const result = { machine: machine(), workers: 2, connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, warmupSeconds: WARMUP, skipped, variants };
    result.targets = ratios(result);
    return result;
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        console.error(`mapCluster: cleanup: ${err.message}`);
      }
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** SharedMap's requests/s over each peer's; undefined while SharedMap is not built. */
export function ratios(result) {
  const v = result.variants;
  if (!v?.sharedmap) return undefined;
  return { vsRedis: v.redis && v.sharedmap.requestsPerSec / v.redis.requestsPerSec, vsIpc: v.sharedmap.requestsPerSec / v.ipc.requestsPerSec };
}

export function print(result) {
  if (result.skipped?.all) {
    console.log(`Cluster HTTP: ${result.skipped.all}, skipped`);
    return;
  }
  console.log(
    `Cluster HTTP (${result.machine}): node:cluster, ${result.workers} workers; each request reads a cached ~100-byte object and increments a shared counter; ` +
      `autocannon in the benchmark's process, ${result.connections} connections, ${result.seconds} s per variant in ${result.rounds} interleaved round${result.rounds === 1 ? '' : 's'} after a ${result.warmupSeconds} s warm-up`,
  );
  for (const [name, why] of Object.entries(result.skipped)) console.log(`  ${name}: ${why}, skipped`);
  console.log(`  ${''.padEnd(58)} ${'requests/s [rounds]'.padStart(24)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
  const problems = [];
  for (const [variant, s] of Object.entries(result.variants)) {
    const rounds = `${s.requestsPerSec.toFixed(0)} [${s.perRound.map((x) => x.toFixed(0)).join(', ')}]`;
    console.log(`  ${LABELS[variant].padEnd(58)} ${rounds.padStart(24)} ${s.latencyMs.p50.toFixed(2).padStart(8)} ${s.latencyMs.p99.toFixed(2).padStart(8)}`);
    if (s.errors || s.non2xx) problems.push(`${variant}: ${s.errors} errors, ${s.non2xx} non-2xx answers`);
    // Requests still in flight when a run ends are counted by the server and not by autocannon.
    const { hits, answered } = s.counter;
    if (!(hits >= answered && hits <= answered + result.connections * (result.rounds + 1)))
      problems.push(`${variant}: counter ${hits}, ${answered} answers counted`);
  }
  console.log(problems.length ? `  PROBLEMS: ${problems.join('; ')}` : '  every answer was 2xx, and every counter matches the answers counted');
  const v = result.variants;
  const target = (peer, times) => {
    if (!v[peer]) return `>= ${times}x ${LABELS[peer].split(' (')[0]}: no peer in this run`;
    const limit = `>= ${times}x ${peer === 'redis' ? "Redis's" : "the primary-IPC cache's"} ${v[peer].requestsPerSec.toFixed(0)} = ${(times * v[peer].requestsPerSec).toFixed(0)} requests/s`;
    if (!v.sharedmap) return `${limit}: SharedMap not built yet`;
    const x = v.sharedmap.requestsPerSec / v[peer].requestsPerSec;
    return `${limit}: SharedMap ${x.toFixed(2)}x, ${x >= times ? 'met' : 'MISSED'}`;
  };
  console.log(`  Targets for SharedMap: ${target('redis', 1.5)}`);
  console.log(`                         ${target('ipc', 3)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) print(await run((line) => console.error(line)));

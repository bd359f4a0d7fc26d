// One process of bench/map.mjs's throughput rows (forked with an IPC channel):
//   node bench/map-worker.mjs '{"kind":"sharedmap|lmdb|redis","op":"get|set","index":0,...}'
// Opens the store and sends {opened}; waits for {setUp}, which bench/map.mjs
// sends once every worker of the measurement has opened; does its untimed
// set-up and 2,000 warm-up operations, sends {ready}, waits for
// {startNs, durationMs}, spins until startNs (the monotonic clock, the same
// for every process on the host) so that all workers of a measurement start
// together, does operations on random keys until startNs + durationMs, and
// sends {ops, elapsedNs, cpuUs} (the CPU time this process had meanwhile, all
// its threads). On an error it sends {error} (the error's first line) and
// exits with code 1.
// get: random keys of the KEYS objects bench/map.mjs stored. set: the
// ~100-byte object to random keys of this worker's own 1,000 keys
// ("w<index>:<k>"), so two writers never write the same key.
// lmdb: the environment bench/map.mjs made (cfg.path), opened with its
// options (cfg.options), as every process of one environment must be
// (lmdb-js refuses a noSync / overlappingSync that differs from the
// environment's; LMDB: never mix MDB_WRITEMAP and not). Why no worker writes
// before all have opened: LMDB's own caveat, "opening a database can fail if
// another process is opening or closing it at exactly the same time"; in
// lmdb-js 3's LMDB (mdb_env_open2) an opening process sets the lock file's
// last transaction id to the meta page it read, without the writer lock, so
// a process that commits meanwhile starts its next write transaction from a
// stale id: "MDB_BAD_TXN: ... mdb_page_touch no parent", or a crash. Closing
// does not touch that id (mdb_env_close), so workers close as they finish.
import { makeObject, objectKey, randomOrder, sharedMapModule } from './map-data.mjs';

const cfg = JSON.parse(process.argv[2]);
const WRITE_KEYS = 1000;
const MASK = 0xffff;
const order = randomOrder(MASK + 1, cfg.op === 'get' ? cfg.keys : WRITE_KEYS, 1 + cfg.index * 7919);
const keys = cfg.op === 'get' ? Array.from({ length: cfg.keys }, (_, i) => objectKey(i)) : Array.from({ length: WRITE_KEYS }, (_, k) => `w${cfg.index}:${k}`);
const values = Array.from({ length: 100 }, (_, i) => makeObject(i));

/** { get(key), set(key, value), close(), sync } over the store this worker measures. */
async function openStore() {
  if (cfg.kind === 'sharedmap') {
    const { SharedMap } = await import(sharedMapModule());
    const map = SharedMap.open(cfg.name);
    return { get: (key) => map.get(key), set: (key, value) => map.set(key, value), sync: true, close: () => map.close() };
  }
  if (cfg.kind === 'lmdb') {
    const { open } = await import('lmdb');
    const db = open({ ...cfg.options, path: cfg.path });
    return { get: (key) => db.get(key), set: (key, value) => db.putSync(key, value), sync: true, close: () => db.close() };
  }
  if (cfg.kind === 'redis') {
    const { default: Redis } = await import('ioredis');
    const redis = new Redis({ path: cfg.socket });
    return {
      get: async (key) => JSON.parse(await redis.get(key)),
      set: (key, value) => redis.set(key, JSON.stringify(value)),
      sync: false,
      close: () => redis.quit(),
    };
  }
  throw new Error(`unknown kind ${cfg.kind}`);
}

const orphaned = () => process.exit(1); // bench/map.mjs is gone: no reason to stay
process.once('disconnect', orphaned);
process.on('error', orphaned); // a send to a parent that is gone
const nextMessage = () => new Promise((resolve) => process.once('message', resolve));

async function main() {
  const store = await openStore();
  try {
    const { get, set } = store;
    const op = cfg.op === 'get' ? (i) => get(keys[order[i & MASK]]) : (i) => set(keys[order[i & MASK]], values[i % 100]);
    process.send({ opened: true });
    await nextMessage(); // {setUp}: every worker has opened the store
    if (cfg.op === 'set') for (const key of keys) await set(key, values[0]); // every key exists before timing
    for (let i = 0; i < cfg.warmup; i++) {
      if (store.sync) op(i);
      else await op(i);
    }
    process.send({ ready: true });
    const { startNs, durationMs } = await nextMessage();
    const start = BigInt(startNs);
    const end = start + BigInt(Math.round(durationMs * 1e6));
    while (process.hrtime.bigint() < start);
    const cpu0 = process.cpuUsage();
    let ops = 0;
    if (store.sync) {
      do {
        for (let j = 0; j < 64; j++) op(ops + j);
        ops += 64;
      } while (process.hrtime.bigint() < end);
    } else {
      do await op(ops++);
      while (process.hrtime.bigint() < end);
    }
    const elapsedNs = Number(process.hrtime.bigint() - start);
    const cpu = process.cpuUsage(cpu0);
    process.send({ ops, elapsedNs, cpuUs: cpu.user + cpu.system });
  } finally {
    await store.close();
  }
}

try {
  await main();
  process.off('disconnect', orphaned);
  if (process.connected) process.disconnect();
} catch (err) {
  console.error(err); // the whole stack, on the benchmark's stderr
  process.off('disconnect', orphaned);
  if (process.connected) process.send({ error: String(err).split('\n')[0] }, () => process.exit(1));
  else process.exit(1);
}

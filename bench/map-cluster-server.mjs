// The HTTP server of bench/map-cluster.mjs, forked by it (IPC channel):
//   node bench/map-cluster-server.mjs sharedmap NAME | redis SOCKET | ipc
// The primary sets up the shared state, forks 2 node:cluster workers that
// serve HTTP on one port (127.0.0.1, port chosen by the system), sends
// {ready, port} and, on {stop}, sends {hits} (the shared counter) and exits,
// removing what it made. Each GET /user/ID reads the cached ~100-byte object
// "user:ID", increments the shared counter "hits", and answers both as JSON:
//   sharedmap: map.get(key) and map.increment('hits'), in the worker itself;
//   redis:     GET + INCR through one ioredis connection per worker, sent
//              together (Promise.all); the object is stored as JSON;
//   ipc:       the cache lives in the primary: two process.send requests
//              (get, incr), sent together, each answered by process.send.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { loadSharedMap, makeObject } from './map-data.mjs';

const [variant, target] = process.argv.slice(2);
const WORKERS = 2;
const USERS = 1000;

if (cluster.isPrimary) {
  let hits = 0;
  let hitsNow = () => hits;
  let cleanup = () => {};
  if (variant === 'sharedmap') {
    const SharedMap = await loadSharedMap();
    const map = SharedMap.create(target, { size: 4 << 20 });
    cleanup = () => {
      map.close();
      SharedMap.unlink(target);
    };
    for (let i = 0; i < USERS; i++) map.set(`user:${i}`, makeObject(i));
    map.set('hits', 0);
    hitsNow = () => map.get('hits');
  } else if (variant === 'redis') {
    const { default: Redis } = await import('ioredis');
    const redis = new Redis({ path: target });
    cleanup = () => redis.quit();
    const fill = redis.pipeline();
    for (let i = 0; i < USERS; i++) fill.set(`user:${i}`, JSON.stringify(makeObject(i)));
    await fill.set('hits', 0).exec();
    hitsNow = async () => Number(await redis.get('hits'));
  } else if (variant === 'ipc') {
    const cache = new Map(Array.from({ length: USERS }, (_, i) => [`user:${i}`, makeObject(i)]));
    cluster.on('message', (worker, m) => {
      worker.send({ id: m.id, value: m.op === 'get' ? cache.get(m.key) : ++hits });
    });
  } else {
    throw new Error(`unknown variant ${variant}`);
  }

  let stopping = false;
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === WORKERS) process.send({ ready: true, port: address.port });
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    console.error(`map-cluster-server (${variant}): worker ${worker.process.pid} exited (${code ?? signal})`);
    finish(1);
  });
  const finish = async (code) => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.process.kill();
    await Promise.all(Object.values(cluster.workers).map((w) => (w.isDead() ? undefined : new Promise((resolve) => w.once('exit', resolve)))));
    try {
      await cleanup();
    } finally {
      process.exit(code);
    }
  };
  process.on('message', async (m) => {
    if (!m.stop) return;
    const total = await hitsNow();
    stopping = true;
    process.send({ hits: total }, () => finish(0));
  });
  process.once('disconnect', () => finish(1)); // bench/map-cluster.mjs is gone
  for (let i = 0; i < WORKERS; i++) cluster.fork();
} else {
  let handle;
  if (variant === 'sharedmap') {
    const SharedMap = await loadSharedMap();
    const map = SharedMap.open(target);
    handle = (key) => {
      const user = map.get(key);
      const hits = map.increment('hits');
      return { user, hits };
    };
  } else if (variant === 'redis') {
    const { default: Redis } = await import('ioredis');
    const redis = new Redis({ path: target });
    handle = async (key) => {
      const [raw, hits] = await Promise.all([redis.get(key), redis.incr('hits')]);
      return { user: raw === null ? undefined : JSON.parse(raw), hits };
    };
  } else {
    const pending = new Map();
    let next = 0;
    process.on('message', (m) => {
      pending.get(m.id)(m.value);
      pending.delete(m.id);
    });
    const ask = (op, key) =>
      new Promise((resolve) => {
        const id = next++;
        pending.set(id, resolve);
        process.send({ id, op, key });
      });
    handle = async (key) => {
      const [user, hits] = await Promise.all([ask('get', key), ask('incr', 'hits')]);
      return { user, hits };
    };
  }
  createServer(async (req, res) => {
    const id = /^\/user\/(\d+)$/.exec(req.url)?.[1];
    const { user, hits } = id === undefined ? {} : await handle(`user:${id}`);
    if (user === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ hits, user }));
  }).listen(0, '127.0.0.1');
}

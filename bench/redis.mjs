// A private redis-server for the benchmarks: started on a Unix socket in a
// temporary folder, no TCP port, no persistence; stopped and its folder
// removed by stop(), or at the latest when this process exits.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exited } from './lib.mjs';

/** Why Redis cannot be benchmarked here, or undefined when redis-server and ioredis are both there. */
export async function redisMissing() {
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) return 'redis-server not found (Debian: apt-get install redis-server)';
  try {
    await import('ioredis');
  } catch {
    return 'ioredis not installed (npm install)';
  }
  return undefined;
}

/** `redis-server --version`'s "v=7.0.15", or undefined. */
export function redisVersion() {
  const out = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /v=(\S+)/.exec(out)?.[1];
}

/** Starts redis-server; resolves to { socket, pid, version, stop() } once it answers on its socket. */
export async function startRedis() {
  const dir = mkdtempSync(join(os.tmpdir(), 'shmkit-bench-redis-'));
  const socket = join(dir, 'redis.sock');
  const args = ['--save', '', '--appendonly', 'no', '--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir];
  const child = spawn('redis-server', [...args, '--daemonize', 'no', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  const onExit = () => {
    child.kill('SIGKILL');
    removeDir();
  };
  process.once('exit', onExit);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited(child);
      clearTimeout(timer);
    }
    removeDir();
  };
  try {
    const { default: Redis } = await import('ioredis');
    for (let waited = 0; !existsSync(socket); waited += 10) {
      if (child.exitCode !== null || waited > 5000) throw new Error(`redis-server did not start (exit code ${child.exitCode})`);
      await sleep(10);
    }
    const probe = new Redis({ path: socket, lazyConnect: true });
    await probe.connect();
    const pong = await probe.ping();
    await probe.quit();
    if (pong !== 'PONG') throw new Error(`redis-server answered PING with ${pong}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { socket, pid: child.pid, version: redisVersion(), stop };
}

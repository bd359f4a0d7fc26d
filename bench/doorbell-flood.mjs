// What a flood of datagrams from another user costs a waiting process
// (docs/design.md, "Doorbells"): a request/reply loop over a Pipe, 1 ms
// apart (async receives: both ends sleep on their doorbells) and an idle reader (an
// async get of an empty Queue), first quiet, then while the user nobody
// sends datagrams as fast as it can to the three doorbells, found in
// /proc/net/unix (bench/doorbell_flood.py); between them, a control: the
// user nobody spinning on a core (what any busy process of another user
// costs on a 2-core machine). Run as root (to become nobody):
//   flock /tmp/shmkit-timing.lock node bench/doorbell-flood.mjs [SECONDS]
// SHMKIT_DIST=/path/to/dist/index.js measures another build of shmkit.
// Prints JSON: per phase, round trip median and p99 (us), round trips, the
// idle reader's CPU (ms per phase), and what the flood delivered.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = process.env.SHMKIT_DIST ?? join(here, '..', 'dist', 'index.js');
const { Pipe, Queue } = await import(pathToFileURL(dist).href);
const { native } = await import(pathToFileURL(join(dirname(dist), 'core', 'native.js')).href);
const bellOf = () => native.doorbellId().toString(16).padStart(8, '0');

const [role, name] = process.argv.slice(2);
if (role === 'replier') {
  const pipe = Pipe.open(name);
  await pipe.recv(); // the first message: our doorbell is open
  console.log(bellOf());
  for (;;) await pipe.send(await pipe.recv());
} else if (role === 'idle') {
  const queue = Queue.open(name);
  const got = queue.get();
  console.log(bellOf());
  await got;
  process.exit(0);
} else {
  await main(Number(role ?? 5));
}

function firstLine(child) {
  return new Promise((resolve) => {
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve(text.split('\n')[0]);
    });
  });
}

/** utime + stime of `pid`, ms. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks at USER_HZ 100
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function phase(pipe, seconds, idlePid) {
  const samples = [];
  const cpu0 = cpuMs(idlePid);
  const end = performance.now() + seconds * 1000;
  for (let i = 0; performance.now() < end; i++) {
    await sleep(1); // an idle gap: both ends sleep on their doorbells, as a server between requests
    const t0 = performance.now();
    await pipe.send(i);
    await pipe.recv();
    samples.push((performance.now() - t0) * 1000);
  }
  samples.sort((a, b) => a - b);
  return {
    roundTrips: samples.length,
    medianUs: Math.round(percentile(samples, 0.5)),
    p99Us: Math.round(percentile(samples, 0.99)),
    idleReaderCpuMs: cpuMs(idlePid) - cpu0,
  };
}

async function main(seconds) {
  const tag = `bellflood${process.pid}`;
  const pipe = Pipe.create(`${tag}p`);
  const queue = Queue.create(`${tag}q`, { capacity: 4096 });
  const me = fileURLToPath(import.meta.url);
  const replier = spawn(process.execPath, [me, 'replier', `${tag}p`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const idle = spawn(process.execPath, [me, 'idle', `${tag}q`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const idleBell = await firstLine(idle);
    await pipe.send('start');
    const replierBell = await firstLine(replier);
    const recv = pipe.recv(); // opens our doorbell
    await pipe.send('warm');
    await recv;
    const bells = [bellOf(), replierBell, idleBell];
    await phase(pipe, 1, idle.pid); // warm-up
    const quiet = await phase(pipe, seconds, idle.pid);
    const drop = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    const source = readFileSync(join(here, 'doorbell_flood.py'), 'utf8');
    const python = process.env.SHMKIT_PYTHON ?? '/usr/bin/python3';
    const spinner = spawn('setpriv', [...drop, python, '-c', 'while True: pass'], { stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const busyCore = await phase(pipe, seconds, idle.pid);
    spinner.kill('SIGKILL');
    const flooder = spawn('setpriv', [...drop, python, '-c', source, String(seconds + 1), ...bells], { stdio: ['ignore', 'pipe', 'inherit'] });
    const report = firstLine(flooder);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the flood is running
    const flooded = await phase(pipe, seconds, idle.pid);
    const flood = JSON.parse(await report);
    console.log(JSON.stringify({ dist, seconds, quiet, busyCore, flooded, flood }, null, 2));
  } finally {
    replier.kill('SIGKILL');
    idle.kill('SIGKILL');
    pipe.close();
    pipe.unlink();
    queue.close();
    queue.unlink();
  }
  process.exit(0);
}

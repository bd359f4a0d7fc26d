// Thousands of pending async waits on one object, then the release that lets
// them all through: how long until every one has gone (the drain), and the
// CPU the pending waits cost while nothing happens (idle). One scenario per
// run, printed as JSON; bench/waits.mjs and test/waits-scale.test.ts run it.
//   node bench/drain.mjs KIND COUNT HANDLES PROCESSES [NAME]
// KIND: lock, rlock (COUNT acquires, each released at once), condition
// (COUNT waiters, then one notifyAll), notify-one (COUNT waiters, then one
// notify(1) per waiter; a Condition's lock is re-entrant per handle, so
// give each waiter its own: HANDLES = COUNT), barrier (COUNT parties), queue (COUNT pending
// get(), then COUNT messages put), event (COUNT waits, then set()).
// Waits are spread round-robin over HANDLES handles in each of PROCESSES
// processes (this one and PROCESSES - 1 children). Prints
// { kind, count, handles, processes, backend, drainMs, idleCpuPercent }:
// idleCpuPercent is this process's CPU over IDLE_MS with every wait pending
// (run with --expose-gc, as the test and bench/waits.mjs do, so that the
// setup's garbage is collected before that window, not in it).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Barrier, Condition, Event, Lock, Queue, RLock } from 'shmkit';
import { native } from '../dist/core/native.js';

const IDLE_MS = Number(process.env.DRAIN_IDLE_MS ?? 1000);

const kinds = {
  lock: lockKind(Lock),
  rlock: lockKind(RLock),
  condition: conditionKind(false),
  'notify-one': conditionKind(true),
  barrier: {
    create: (name, total) => Barrier.create(name, total + 1),
    open: (name) => Barrier.open(name),
    wait: (handle) => handle.wait(),
    release: async (object) => {
      await object.wait();
    },
  },
  queue: {
    create: (name) => Queue.create(name, { capacity: 1 << 20 }),
    open: (name) => Queue.open(name),
    wait: (handle) => handle.get(),
    release: async (object, total) => {
      for (let i = 0; i < total; i++) await object.put(i);
    },
  },
  event: {
    create: (name) => Event.create(name),
    open: (name) => Event.open(name),
    wait: (handle) => handle.wait(),
    release: async (object) => object.set(),
  },
};

function lockKind(Kind) {
  return {
    create: (name) => {
      const holder = Kind.create(name);
      holder.acquireSync();
      return holder;
    },
    open: (name) => Kind.open(name),
    wait: async (handle) => {
      await handle.acquire();
      handle.release();
    },
    release: async (holder) => holder.release(),
  };
}

/** Waiters that each hold the lock, wait, and release; then a notifyAll, or notify(1) per waiter. */
function conditionKind(oneByOne) {
  return {
    create: (name) => Condition.create(name),
    open: (name) => Condition.open(name),
    // Entering the wait needs the lock: the waits are set up one after another.
    wait: async (handle, entered) => {
      await handle.acquire();
      const woken = handle.wait();
      entered();
      await woken;
      handle.release();
    },
    release: async (notifier, total) => {
      for (let sent = 0; sent < (oneByOne ? total : 1); sent++) {
        await notifier.acquire();
        if (oneByOne) notifier.notify(1);
        else notifier.notifyAll();
        notifier.release();
        if (oneByOne) await new Promise(setImmediate);
      }
    },
  };
}

/** Starts `count` waits over `handles` handles of `name`; resolves once every one is pending. */
async function startWaits(kind, name, count, handles) {
  const opened = Array.from({ length: handles }, () => kind.open(name));
  const waits = [];
  for (let i = 0; i < count; i++) {
    let entered;
    const ready = new Promise((resolve) => (entered = resolve));
    waits.push(kind.wait(opened[i % handles], entered));
    if (kind === kinds.condition || kind === kinds['notify-one']) await ready;
  }
  // A barrier's parties arrive one by one (each takes its lock): wait until all have.
  while (kind === kinds.barrier && opened[0].nWaiting < count) await sleep(10);
  // Let the setup's own work end before the idle window: its garbage (tens of
  // MB of promises for 20,000 calls) is collected first where --expose-gc allows.
  globalThis.gc?.();
  await sleep(200);
  return { all: Promise.all(waits), opened };
}

async function child([kindName, name, count, handles]) {
  const kind = kinds[kindName];
  const { all, opened } = await startWaits(kind, name, Number(count), Number(handles));
  console.log('ready');
  await all;
  console.log(`done ${performance.timeOrigin + performance.now()}`);
  for (const handle of opened) handle.close();
}

function startChild(args) {
  const proc = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), 'child', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  // Lines are kept until asked for: a child may print before anyone listens.
  const lines = [];
  const waiting = [];
  createInterface({ input: proc.stdout }).on('line', (line) => (waiting.length ? waiting.shift()(line) : lines.push(line)));
  const next = () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((resolve) => waiting.push(resolve)));
  return { proc, next };
}

async function main([kindName, count, handles, processes, givenName]) {
  const kind = kinds[kindName];
  const total = Number(count);
  const procs = Number(processes ?? 1);
  const perProcess = Math.floor(total / procs);
  const handlesPerProcess = Math.max(1, Math.floor(Number(handles ?? 1) / procs));
  const name = givenName ?? `drain_${randomBytes(4).toString('hex')}`;
  const object = kind.create(name, total);
  const children = Array.from({ length: procs - 1 }, () => startChild([kindName, name, String(perProcess), String(handlesPerProcess)]));
  try {
    for (const c of children) await c.next(); // ready
    const mine = await startWaits(kind, name, total - perProcess * (procs - 1), handlesPerProcess);
    const cpu = process.cpuUsage();
    await sleep(IDLE_MS);
    const used = process.cpuUsage(cpu);
    const idleCpuPercent = ((used.user + used.system) / 1000 / IDLE_MS) * 100;
    const started = performance.timeOrigin + performance.now();
    const doneLines = children.map((c) => c.next());
    await kind.release(object, total);
    await mine.all;
    let ended = performance.timeOrigin + performance.now();
    for (const line of await Promise.all(doneLines)) ended = Math.max(ended, Number(line.split(' ')[1]));
    for (const handle of mine.opened) handle.close();
    const report = { kind: kindName, count: total, handles: Number(handles ?? 1), processes: procs, backend: native.waitBackend() };
    console.log(JSON.stringify({ ...report, drainMs: Math.round(ended - started), idleCpuPercent: Number(idleCpuPercent.toFixed(1)) }));
  } finally {
    for (const c of children) c.proc.kill();
    object.close();
    object.unlink();
  }
}

const [role, ...rest] = process.argv.slice(2);
if (role === 'child') await child(rest);
else await main([role, ...rest]);

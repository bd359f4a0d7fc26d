// The shmkit command line, run as a user runs it (a separate node process),
// against objects this test made: ls, inspect, rm, gc, their --json output
// and their errors. Every listing is limited to this run's name prefix.
import { execFileSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../dist/core/native.js';
import { Barrier, BoundedSemaphore, Condition, Event, Lock, Pipe, Queue, Semaphore, Array as SharedArray, SharedMemory } from '../dist/index.js';
import { expectCode, type RunResult, root, Scratch, start, startFixture, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** Runs the CLI; one still running after `hangLimitMs` (a hang, not slowness) is killed and ends with signal SIGKILL. */
function cli(...args: string[]): Promise<RunResult> {
  return within(start(process.execPath, [join(root, 'bin', 'shmkit.mjs'), ...args]));
}

const hangLimitMs = 30_000;
function within(run: ReturnType<typeof start>): Promise<RunResult> {
  const timer = setTimeout(() => run.child.kill('SIGKILL'), hangLimitMs);
  return run.done.finally(() => clearTimeout(timer));
}

/** True if the user nobody can reach the checkout: every directory above it lets others through, and it lets them read. */
function othersCanReach(path: string): boolean {
  if ((statSync(path).mode & 0o005) !== 0o005) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

const NOBODY = 65534;
const canDropPrivileges =
  process.getuid?.() === 0 &&
  (() => {
    try {
      execFileSync('setpriv', ['--version']);
    } catch {
      console.log('cli: the tests that run as the user nobody are skipped: no setpriv');
      return false;
    }
    // The checkout, node itself, and the modules (node_modules may be a link to another checkout's).
    const needed = [root, process.execPath, realpathSync(join(root, 'node_modules'))];
    const unreachable = needed.find((path) => !othersCanReach(path));
    if (unreachable === undefined) return true;
    console.log(`cli: the tests that run as the user nobody are skipped: nobody cannot reach ${unreachable}`);
    return false;
  })();

/** Runs the CLI as the user nobody. */
function cliAsNobody(...args: string[]): Promise<RunResult> {
  const drop = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
  return within(start('setpriv', [...drop, process.execPath, join(root, 'bin', 'shmkit.mjs'), ...args]));
}

async function json(...args: string[]) {
  const run = await cli(...args, '--json');
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout);
}

describe.runIf(process.platform === 'linux')('shmkit CLI', () => {
  it('ls lists shmkit objects with kind, dtype, length and live handles; --all adds raw segments and semaphores', async () => {
    const prefix = uniqueName('cli');
    scratch.add(SharedArray.create(`${prefix}a`, 'float32', 12));
    scratch.add(Queue.create(`${prefix}q`, { capacity: 4096 }));
    const lock = scratch.add(Lock.create(`${prefix}l`));
    scratch.add(Lock.open(lock.name)); // a second live handle
    const raw = new SharedMemory({ name: `${prefix}r`, create: true, size: 100 });
    scratch.add({ close: () => raw.close(), unlink: () => raw.unlink() });
    scratch.add(Semaphore.create(`${prefix}s`, 1));
    const listed = await json('ls', '--prefix', prefix);
    expect(listed.map((o: { name: string }) => o.name)).toEqual([`${prefix}a`, `${prefix}l`, `${prefix}q`]);
    expect(listed[0]).toMatchObject({ kind: 'array', dtype: 'float32', length: 12, handles: 1, size: 128 + 48, version: 5, ready: true });
    expect(listed[1]).toMatchObject({ kind: 'lock', handles: 2 });
    expect(listed[2]).toMatchObject({ kind: 'queue', dtype: 'uint8', handles: 1 });
    const all = await json('ls', '--all', '--prefix', prefix);
    expect(all.map((o: { name: string; kind: string }) => `${o.name.slice(prefix.length)}:${o.kind}`)).toEqual([
      'a:array',
      'l:lock',
      'q:queue',
      'r:raw',
      's:semaphore',
    ]);
    const text = await cli('ls', '--prefix', prefix);
    expect(text.stdout.split('\n')[0]).toMatch(/^NAME\s+KIND\s+SIZE\s+DTYPE\s+LENGTH\s+STATE\s+HANDLES$/);
  });

  it("inspect shows a Queue's messages, a Lock's holder, a Pipe's open ends; a killed creator leaves 0 handles", async () => {
    const prefix = uniqueName('cli');
    const q = scratch.add(Queue.create(`${prefix}q`, { capacity: 4096 }));
    q.putSync('one');
    q.putSync({ two: 2 });
    expect(await json('inspect', q.name)).toMatchObject({ kind: 'queue', messages: 2, viewsHeld: 0, capacity: 4096, handles: 1 });
    const view = q.getViewSync();
    expect(await json('inspect', q.name)).toMatchObject({ messages: 1, viewsHeld: 1 });
    view.release();
    const lock = scratch.add(Lock.create(`${prefix}l`));
    expect(await json('inspect', lock.name)).toMatchObject({ held: false });
    lock.acquireSync();
    expect(await json('inspect', lock.name)).toMatchObject({ held: true, holderAlive: true });
    const pipe = scratch.add(Pipe.create(`${prefix}p`, { capacity: 1024 }));
    expect(await json('inspect', pipe.name)).toMatchObject({ kind: 'pipe', endsOpen: [true, false] });
    // A holder killed while it holds a lock: the lock reads as held by a dead holder, with no live handle.
    const name = `${prefix}k`;
    scratch.add({ close() {}, unlink: () => SharedMemory.unlink(name) });
    Lock.create(name).close();
    const holder = startFixture('sync-peer.mjs', ['hold', name]);
    await holder.line((l) => l === 'held');
    expect(await json('inspect', name)).toMatchObject({ handles: 1, held: true, holderAlive: true });
    holder.child.kill('SIGKILL');
    await holder.done;
    expect(await json('inspect', name)).toMatchObject({ handles: 0, held: true, holderAlive: false });
  });

  it('ls shows what each kind holds (STATE), DTYPE and LENGTH for Value and Array only; inspect shows Event, Barrier, BoundedSemaphore and Condition state', async () => {
    const prefix = uniqueName('cli');
    scratch.add(SharedArray.create(`${prefix}a`, 'int16', 7));
    const barrier = scratch.add(Barrier.create(`${prefix}b`, 3));
    const waiting = barrier.wait().catch((err) => err.code);
    const sem = scratch.add(BoundedSemaphore.create(`${prefix}bs`, 5));
    sem.acquireSync();
    sem.acquireSync();
    scratch.add(Condition.create(`${prefix}c`));
    const event = scratch.add(Event.create(`${prefix}e`));
    event.set();
    scratch.add(Lock.create(`${prefix}l`)).acquireSync();
    scratch.add(Pipe.create(`${prefix}p`, { capacity: 1024 }));
    const q = scratch.add(Queue.create(`${prefix}q`, { capacity: 4096 }));
    q.putSync('one');
    q.putSync('two');
    const rows = await json('ls', '--prefix', prefix);
    expect(Object.fromEntries(rows.map((o: { name: string; state: string }) => [o.name.slice(prefix.length), o.state]))).toEqual({
      a: '',
      b: '1/3 waiting',
      bs: '3/5 free',
      c: '0 waiting',
      e: 'set',
      l: 'held',
      p: 'creator end open',
      q: '2 messages',
    });
    const text = (await cli('ls', '--prefix', prefix)).stdout.split('\n');
    expect(text.find((line) => line.startsWith(`${prefix}a `))).toMatch(/\barray\s+\S+\s+int16\s+7\s+1$/);
    expect(text.find((line) => line.startsWith(`${prefix}l `))).toMatch(/\block\s+128\s+held\s+1$/);
    expect(await json('inspect', event.name)).toMatchObject({ kind: 'event', set: true });
    event.clear();
    expect(await json('inspect', event.name)).toMatchObject({ set: false, state: 'clear' });
    expect(await json('inspect', barrier.name)).toMatchObject({ kind: 'barrier', parties: 3, waiting: 1, broken: false });
    barrier.abort();
    expect(await waiting).toBe('ERR_SHM_BROKEN_BARRIER');
    expect(await json('inspect', barrier.name)).toMatchObject({ broken: true, state: 'broken' });
    expect(await json('inspect', sem.name)).toMatchObject({ kind: 'bounded-semaphore', value: 3, bound: 5 });
    expect(await json('inspect', `${prefix}c`)).toMatchObject({ kind: 'condition', held: false, waiters: 0 });
  });

  it('gc is a dry run unless --force, and removes only objects with no live handle', async () => {
    const prefix = uniqueName('cli');
    const live = scratch.add(SharedArray.create(`${prefix}live`, 'int8', 4));
    SharedArray.create(`${prefix}dead`, 'int8', 4).close();
    scratch.add({ close() {}, unlink: () => SharedMemory.unlink(`${prefix}dead`) });
    const dry = await json('gc', '--older-than', '0', '--prefix', prefix);
    expect(dry).toEqual([expect.objectContaining({ name: `${prefix}dead`, handles: 0, removed: false })]);
    expect((await json('ls', '--prefix', prefix)).length).toBe(2);
    const forced = await json('gc', '--older-than', '0', '--prefix', prefix, '--force');
    expect(forced).toEqual([expect.objectContaining({ name: `${prefix}dead`, removed: true })]);
    expect((await json('ls', '--prefix', prefix)).map((o: { name: string }) => o.name)).toEqual([live.name]);
    expect(await json('gc', '--older-than', '60', '--prefix', prefix)).toEqual([]);
    const none = await cli('gc', '--older-than', '60', '--prefix', prefix);
    expect([none.code, none.stdout]).toEqual([
      0,
      `nothing to remove: no shmkit object named ${prefix}* is both without a live handle and unused for 60 minutes\n`,
    ]);
    expect((await cli('--help')).stdout).toMatch(/MINUTES minutes\s+\(default 60\)/);
  });

  it("an object's age for gc runs from its last open or close, not from its creation", async () => {
    const prefix = uniqueName('cli');
    const name = `${prefix}old`;
    Lock.create(name).close();
    scratch.add({ close() {}, unlink: () => SharedMemory.unlink(name) });
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(`/dev/shm/${name}`, twoHoursAgo, twoHoursAgo);
    expect(await json('gc', '--older-than', '60', '--prefix', prefix)).toEqual([expect.objectContaining({ name, removed: false })]);
    Lock.open(name).close(); // used: two hours of disuse end here
    expect(await json('gc', '--older-than', '60', '--prefix', prefix)).toEqual([]);
    expect(await json('gc', '--older-than', '60', '--prefix', prefix, '--force')).toEqual([]);
    expect(existsSync(`/dev/shm/${name}`)).toBe(true);
  });

  it('ls, inspect and gc survive any /dev/shm entry: FIFO, socket, directory, dangling and looping symlinks, a non-UTF-8 name, files that only begin with the magic', async () => {
    const prefix = uniqueName('cli');
    const at = (suffix: string) => `/dev/shm/${prefix}${suffix}`;
    const badName = Buffer.concat([Buffer.from(at('bad')), Buffer.from([0xff, 0xfe, 0x0a])]);
    const made: Array<string | Buffer> = [];
    const server = createServer();
    try {
      execFileSync('mkfifo', [at('fifo')]);
      made.push(at('fifo'));
      mkdirSync(at('dir'));
      made.push(at('dir'));
      symlinkSync('/nonexistent/target', at('dangling'));
      made.push(at('dangling'));
      symlinkSync(`${prefix}loop`, at('loop'));
      made.push(at('loop'));
      await new Promise<void>((resolve) => server.listen(at('sock'), resolve));
      made.push(at('sock'));
      writeFileSync(badName, 'not ours');
      made.push(badName);
      // Only the magic; then a header whose every field is right but the kind.
      writeFileSync(at('magic'), Buffer.concat([Buffer.from('SHMK'), Buffer.alloc(200)]));
      made.push(at('magic'));
      const header = Buffer.alloc(128);
      header.writeUInt32LE(0x4b4d4853, 0);
      header.writeUInt16LE(5, 4);
      header.writeUInt8(77, 6); // no such kind
      header.writeUInt8(5, 7);
      header.writeInt32LE(1, 8);
      header.writeUInt32LE(128, 12);
      writeFileSync(at('kind77'), header);
      made.push(at('kind77'));
      Lock.create(`${prefix}lock`).close(); // a real object with no handle, among them
      scratch.add({ close() {}, unlink: () => SharedMemory.unlink(`${prefix}lock`) });

      const all = await json('ls', '--all', '--prefix', prefix);
      expect(all.map((o: { name: string; kind: string }) => `${o.name.slice(prefix.length)}:${o.kind}`)).toEqual([
        'bad\\xff\\xfe\\x0a:raw',
        'kind77:raw',
        'lock:lock',
        'magic:raw',
      ]);
      const text = await cli('ls', '--all', '--prefix', prefix);
      expect([text.code, text.stderr, text.stdout.split('\n').length]).toEqual([0, '', 6]); // a header, 4 rows, the last newline
      const gc = await json('gc', '--force', '--older-than', '0', '--prefix', prefix);
      expect(gc.map((o: { name: string; removed: boolean }) => [o.name, o.removed])).toEqual([[`${prefix}lock`, true]]);
      expect([at('magic'), at('kind77'), badName].map((path) => existsSync(path))).toEqual([true, true, true]);
      for (const [suffix, what] of [
        ['fifo', 'a FIFO'],
        ['sock', 'a socket'],
        ['dir', 'a directory'],
        ['dangling', 'a symbolic link'],
      ]) {
        const run = await cli('inspect', `${prefix}${suffix}`);
        expect([run.code, run.signal, run.stderr]).toEqual([
          1,
          null,
          `shmkit: ERR_SHM_FORMAT: "${prefix}${suffix}" in /dev/shm is ${what}, not a shared-memory segment\n`,
        ]);
      }
      expect(await json('inspect', `${prefix}kind77`)).toMatchObject({ kind: 'raw', invalidHeader: 'kind 77' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
      for (const path of made) rmSync(path, { recursive: true, force: true });
    }
  });

  it.runIf(canDropPrivileges)(
    "as an ordinary user: another user's objects are listed as unreadable, not an error; gc removes only the user's own",
    async () => {
      const prefix = uniqueName('cli');
      Lock.create(`${prefix}root`).close(); // mode 0600, root's: nobody cannot read it
      Lock.create(`${prefix}mine`).close();
      chownSync(`/dev/shm/${prefix}mine`, NOBODY, NOBODY);
      for (const name of ['root', 'mine']) scratch.add({ close() {}, unlink: () => SharedMemory.unlink(`${prefix}${name}`) });
      const run = async (...args: string[]) => {
        const result = await cliAsNobody(...args, '--json');
        expect([result.code, result.stderr]).toEqual([0, '']);
        return JSON.parse(result.stdout);
      };
      expect(await run('ls', '--all', '--prefix', prefix)).toEqual([
        expect.objectContaining({ name: `${prefix}mine`, kind: 'lock', readable: true, handles: 0 }),
        expect.objectContaining({ name: `${prefix}root`, kind: 'unknown', readable: false, error: 'EACCES', handles: 0 }),
      ]);
      expect((await run('ls', '--prefix', prefix)).map((o: { name: string }) => o.name)).toEqual([`${prefix}mine`]);
      const inspect = await cliAsNobody('inspect', `${prefix}root`);
      expect([inspect.code, inspect.stderr]).toEqual([1, expect.stringMatching(/^shmkit: EACCES: cannot read ".*root": EACCES \(owner uid 0, mode 0600\)\n$/)]);
      expect(await run('gc', '--force', '--older-than', '0', '--prefix', prefix)).toEqual([expect.objectContaining({ name: `${prefix}mine`, removed: true })]);
      expect([existsSync(`/dev/shm/${prefix}mine`), existsSync(`/dev/shm/${prefix}root`)]).toEqual([false, true]);
    },
  );

  it("gc's lock over every liveness byte: refused while a handle is open; an open waits for it, then fails with ERR_SHM_TIMEOUT instead of taking a token", async () => {
    const name = uniqueName('cli');
    const lock = scratch.add(Lock.create(name));
    const fd = openSync(`/dev/shm/${name}`, 'r+');
    try {
      expect(native.livenessExclude(fd)).toBe(false); // the creator's handle holds its token
      lock.close();
      expect(native.livenessExclude(fd)).toBe(true);
      expectCode(() => Lock.open(name), 'ERR_SHM_TIMEOUT');
    } finally {
      closeSync(fd);
    }
    Lock.open(name).close(); // the lock went with the descriptor
  });

  it('gc --force never removes an object a live process holds: three processes open and close 40 locks while gc runs', async () => {
    const prefix = uniqueName('gcr');
    const names = Array.from({ length: 40 }, (_, i) => `${prefix}${i}`);
    const churners = [0, 1, 2].map(() => startFixture('gc-churn.mjs', [prefix, String(names.length)]));
    let removed = 0;
    try {
      await Promise.all(churners.map((c) => c.line((l) => l === 'running')));
      // At least 4 s and 8 gc runs (a loaded machine starts node slowly).
      for (let runs = 0, until = Date.now() + 4000; runs < 8 || Date.now() < until; runs++) {
        const run = await json('gc', '--force', '--older-than', '0', '--prefix', prefix);
        removed += run.filter((o: { removed: boolean }) => o.removed).length;
      }
    } finally {
      for (const c of churners) c.child.stdin!.end();
    }
    const reports = await Promise.all(churners.map(async (c) => JSON.parse(await c.line((l) => l.startsWith('{')))));
    for (const name of names) scratch.add({ close() {}, unlink: () => SharedMemory.unlink(name) });
    const heldRemoved = reports.reduce((sum, r) => sum + r.heldRemoved, 0);
    console.log(`gc race: ${removed} removals, ${reports.map((r) => r.cycles).join(' + ')} open/close cycles, ${heldRemoved} removals of a held lock`);
    expect(removed).toBeGreaterThan(0);
    expect(heldRemoved).toBe(0);
  });

  it('rm removes segments and semaphores by name; errors exit non-zero with their code', async () => {
    const prefix = uniqueName('cli');
    SharedArray.create(`${prefix}a`, 'int8', 1).close();
    Semaphore.create(`${prefix}s`, 0).close();
    const removed = await cli('rm', `${prefix}a`, `${prefix}s`);
    expect([removed.code, removed.stdout]).toEqual([0, `removed ${prefix}a\nremoved ${prefix}s\n`]);
    const missing = await cli('rm', `${prefix}a`);
    expect([missing.code, missing.stderr]).toEqual([1, `shmkit: ENOENT: no segment or semaphore named "${prefix}a" in /dev/shm\n`]);
    const unknown = await cli('inspect', `${prefix}none`);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringMatching(/^shmkit: ENOENT: /)]);
    const usage = await cli('frobnicate');
    expect([usage.code, usage.stderr]).toEqual([2, expect.stringMatching(/^shmkit: ERR_SHM_INVALID_ARG: unknown command/)]);
    const badFlag = await cli('ls', '--nope');
    expect(badFlag.code).toBe(2);
    const contradiction = await cli('gc', '--dry-run', '--force');
    expect([contradiction.code, contradiction.stderr]).toEqual([2, expect.stringMatching(/contradict/)]);
  });
});

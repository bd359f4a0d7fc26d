// The shmkit command line, run as a user runs it (a separate node process),
// against objects this test made: ls, inspect, rm, gc, their --json output
// and their errors. Every listing is limited to this run's name prefix.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Lock, Pipe, Queue, Semaphore, Array as SharedArray, SharedMemory } from '../dist/index.js';
import { root, Scratch, start, startFixture, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const cli = (...args: string[]) => start(process.execPath, [join(root, 'bin', 'shmkit.mjs'), ...args]).done;

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
    expect(text.stdout.split('\n')[0]).toMatch(/^NAME\s+KIND\s+SIZE\s+DTYPE\s+LENGTH\s+HANDLES$/);
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
  });

  it('rm removes segments and semaphores by name; errors exit non-zero with their code', async () => {
    const prefix = uniqueName('cli');
    SharedArray.create(`${prefix}a`, 'int8', 1).close();
    Semaphore.create(`${prefix}s`, 0).close();
    const removed = await cli('rm', `${prefix}a`, `${prefix}s`);
    expect([removed.code, removed.stdout]).toEqual([0, `removed ${prefix}a\nremoved ${prefix}s\n`]);
    const missing = await cli('rm', `${prefix}a`);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/^shmkit: ENOENT: /)]);
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

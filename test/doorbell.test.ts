// Doorbells only the right processes can ring: a flood of datagrams from
// another uid (nobody), aimed at a waiting process's doorbell as listed in
// /proc/net/unix, is refused by the kernel; the process's doorbell takes no
// ring from it, and a legitimate wake still arrives. Correctness only.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Queue } from '../dist/index.js';
import { root, start, startFixture, uniqueName } from './helpers.js';

const NOBODY = 65534;
const flooder = readFileSync(join(root, 'bench', 'doorbell_flood.py'), 'utf8');

const drop = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

/**
 * A python3 that the user nobody can run (Node has no Unix datagram
 * sockets; the script goes by -c, so nobody need not reach the checkout),
 * found only as root, with setpriv.
 */
const nobodysPython = ((): string | undefined => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  for (const python of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync('setpriv', [...drop, python, '-c', 'pass'], { stdio: 'ignore' });
      return python;
    } catch {}
  }
  console.log('doorbell: the flood from the user nobody is skipped: no setpriv, or no python3 that nobody may run');
  return undefined;
})();

function floodAsNobody(seconds: number, bell: string) {
  return start('setpriv', [...drop, nobodysPython!, '-c', flooder, String(seconds), bell]).done;
}

describe.runIf(process.platform === 'linux')('doorbell files', () => {
  it('a process removes its own when it ends; shmkit gc --force removes those no process has bound', async () => {
    const name = uniqueName('bell');
    const queue = Queue.create(name, { capacity: 4096 });
    const owner = startFixture('doorbell-owner.mjs', [name]);
    const { bell } = JSON.parse(await owner.line((l) => l.startsWith('{"bell"')));
    const file = `/dev/shm/.shmkit-bell-${bell}`;
    expect(existsSync(file)).toBe(true);
    queue.putSync('bye');
    await owner.done; // it ends by process.exit()
    queue.close();
    queue.unlink();
    expect(existsSync(file)).toBe(false);

    // A killed process's file: a socket file that no socket is bound to.
    const stale = `/dev/shm/.shmkit-bell-${randomBytes(4).toString('hex')}`;
    const orphan = createServer().listen(stale);
    await once(orphan, 'listening');
    renameSync(stale, `${stale}x`); // its close unlinks the name it bound, not this one
    orphan.close();
    await once(orphan, 'close');
    renameSync(`${stale}x`, stale);
    expect(existsSync(stale)).toBe(true);
    const gc = await start(process.execPath, [join(root, 'bin', 'shmkit.mjs'), 'gc', '--force', '--prefix', `${name}-none`]).done;
    expect(gc.code).toBe(0);
    expect(existsSync(stale)).toBe(false);
  });
});

describe.runIf(nobodysPython !== undefined)('a doorbell flooded by another user', () => {
  it("refuses the stranger's datagrams: no ring taken, and the owner's own wake still arrives", async () => {
    const name = uniqueName('bell');
    const queue = Queue.create(name, { capacity: 4096 });
    const owner = startFixture('doorbell-owner.mjs', [name]);
    const timer = setTimeout(() => owner.child.kill('SIGKILL'), 30_000);
    try {
      const { bell } = JSON.parse(await owner.line((l) => l.startsWith('{"bell"')));
      const flood = await floodAsNobody(0.5, bell);
      expect(flood.stderr).toBe('');
      const sent = JSON.parse(flood.stdout);
      expect(sent.targets).toBe(1); // it found the doorbell: the test is not vacuous
      expect(sent.delivered).toBe(0);
      expect(sent.refused).toBeGreaterThan(0);
      owner.send('report');
      expect(JSON.parse(await owner.line((l) => l.startsWith('{"rings"')))).toEqual({ rings: 0 });
      queue.putSync('hello');
      expect(await owner.line((l) => l.startsWith('got'))).toBe('got hello');
      expect((await owner.done).code).toBe(0);
    } finally {
      clearTimeout(timer);
      queue.close();
      queue.unlink();
    }
  });

  it('lets the stranger ring once the owner uses an object that others may write (mode 0666)', async () => {
    const name = uniqueName('bell');
    const queue = Queue.create(name, { capacity: 4096, mode: 0o666 });
    const owner = startFixture('doorbell-owner.mjs', [name]);
    const timer = setTimeout(() => owner.child.kill('SIGKILL'), 30_000);
    try {
      const { bell } = JSON.parse(await owner.line((l) => l.startsWith('{"bell"')));
      const sent = JSON.parse((await floodAsNobody(0.2, bell)).stdout);
      expect(sent.delivered).toBeGreaterThan(0);
      owner.send('report');
      expect(JSON.parse(await owner.line((l) => l.startsWith('{"rings"'))).rings).toBeGreaterThan(0);
      queue.putSync('hello');
      expect(await owner.line((l) => l.startsWith('got'))).toBe('got hello');
    } finally {
      clearTimeout(timer);
      queue.close();
      queue.unlink();
    }
  });
});

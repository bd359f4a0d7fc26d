// The wait engine under load: the number of threads does not grow with the
// number of pending async waits, a thread limit never aborts the process,
// and a thread that cannot start is a typed error. Each scenario runs in a
// separate node process (the backend is chosen per process).
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Semaphore } from '../dist/index.js';
import { fixtures, root, start, uniqueName } from './helpers.js';

const script = join(fixtures, 'waiters.mjs');
const backends = [
  ['io_uring (where the kernel allows it)', {}],
  ['the waiter thread', { SHMKIT_WAIT_BACKEND: 'thread' }],
] as const;

/** Runs the fixture as the unprivileged user `nobody`, with a limit on its threads (RLIMIT_NPROC). */
function asNobody(limit: number, args: string[], env: Record<string, string> = {}) {
  const drop = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];
  return start('setpriv', [...drop, 'prlimit', `--nproc=${limit}:${limit}`, process.execPath, script, ...args], { env });
}

/** True if another user can reach the checkout: every directory above it lets others through, and it lets them read. */
function othersCanReach(path: string): boolean {
  if ((statSync(path).mode & 0o005) !== 0o005) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

const canDropPrivileges =
  process.getuid?.() === 0 &&
  (() => {
    try {
      execFileSync('setpriv', ['--version']);
      execFileSync('prlimit', ['--version']);
    } catch {
      return false;
    }
    if (othersCanReach(root)) return true;
    // A clone under /root, or in any directory only its owner may enter (mktemp -d).
    console.log(`wait-engine: the tests that run as the user nobody are skipped: nobody cannot reach ${root}`);
    return false;
  })();

describe.each(backends)('the wait engine on %s', (_label, env) => {
  it('20,000 pending async waits over 4 objects add at most 8 threads, and all settle once released', async () => {
    const run = start(process.execPath, [script, 'many', uniqueName('wm'), '20000', '4'], { env });
    const result = await run.done;
    expect(result.stderr).toBe('');
    const report = JSON.parse(result.stdout);
    expect(report.settled).toBe(20000);
    expect(report.threadsWaiting - report.threadsBefore).toBeLessThanOrEqual(8);
  });

  it.runIf(canDropPrivileges)('3,000 pending waits under a 100-thread limit (an ordinary user): no abort, all wake', async () => {
    const result = await asNobody(100, ['limited', uniqueName('wt'), '3000'], env).done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('ok 3000');
  });
});

describe('thread exhaustion', () => {
  it.runIf(canDropPrivileges)('a waiter thread that cannot start rejects the wait with EAGAIN instead of aborting', async () => {
    const prefix = uniqueName('wf');
    const run = asNobody(200, ['start-fails', prefix]);
    try {
      const result = await run.done;
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('ShmError EAGAIN');
    } finally {
      run.child.kill();
      await run.done;
      try {
        Semaphore.unlink(`${prefix}s`);
      } catch {
        // the fixture removed it
      }
    }
  });
});

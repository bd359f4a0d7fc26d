// NODE_DEBUG=shmkit: a line per create, open, close, unlink, lock takeover and
// timed-out wait, on stderr; nothing at all without it.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures, start, uniqueName } from './helpers.js';

function run(env: NodeJS.ProcessEnv) {
  const prefix = uniqueName('dbg');
  return { prefix, done: start(process.execPath, [join(fixtures, 'debug-log.mjs'), prefix], { env }).done };
}

describe('NODE_DEBUG=shmkit', () => {
  it('logs what happens to each object, takeovers and timed-out waits', async () => {
    const { prefix, done } = run({ NODE_DEBUG: 'shmkit' });
    const result = await done;
    expect(result.stdout.trim(), result.stderr).toBe('done');
    const lines = result.stderr
      .trim()
      .split('\n')
      .map((line) => line.replace(/^SHMKIT \d+: /, ''));
    const q = (what: string) => JSON.stringify(`${prefix}${what}`);
    expect(lines).toEqual([
      `create Lock ${q('lock')} (0 int32)`,
      `open Lock ${q('lock')} (0 int32)`,
      `close Lock ${q('lock')}`,
      expect.stringMatching(new RegExp(`^takeover lock of ${q('lock')} \\(its holder, token \\d+, is dead\\)$`)),
      `close Lock ${q('lock')}`,
      `unlink segment ${q('lock')}`,
      `create Event ${q('event')} (1 int32)`,
      expect.stringMatching(new RegExp(`^timeout wait on Event ${q('event')} \\(after \\d+ ms\\)$`)),
      `close Event ${q('event')}`,
      `unlink segment ${q('event')}`,
      `create Semaphore ${q('sem')} (value 0)`,
      `close Semaphore ${q('sem')}`,
      `unlink Semaphore ${q('sem')}`,
      `create SharedMemory ${q('shm')} (64 bytes)`,
      `close SharedMemory ${q('shm')}`,
      `unlink segment ${q('shm')}`,
    ]);
  });

  it('is silent without it', async () => {
    const result = await run({ NODE_DEBUG: '' }).done;
    expect([result.stdout.trim(), result.stderr]).toEqual(['done', '']);
  });
});

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SharedMemory } from '../dist/index.js';
import { fixtures, start, uniqueName } from './helpers.js';

// Linux machines (CI included) have python3: there a missing python fails the test.
const python = spawnSync('python3', ['-c', 'import multiprocessing.shared_memory'], { stdio: 'ignore' }).status === 0;
const script = join(fixtures, 'py_shm.py');
const pattern = (i: number, seed: number) => (i * seed + 7) & 255;

describe.skipIf(!python && process.platform !== 'linux')('Python multiprocessing.shared_memory interop', () => {
  it('Node reads a segment that Python created', async () => {
    const name = uniqueName('py');
    const size = 10_000;
    const py = start('python3', [script, 'create', name, String(size), '13']);
    expect(await py.line()).toBe(`ready ${name} ${size}`);
    const shm = new SharedMemory({ name });
    try {
      expect(shm.size).toBe(size);
      const bytes = new Uint8Array(shm.buffer);
      let mismatches = 0;
      for (let i = 0; i < size; i++) if (bytes[i] !== pattern(i, 13)) mismatches++;
      expect(mismatches).toBe(0);
    } finally {
      shm.close();
      py.send('done');
      expect((await py.done).code).toBe(0);
    }
  });

  it('Python reads a segment that Node created, and leaves it in place', async () => {
    const name = uniqueName('py');
    const size = 10_000;
    const shm = new SharedMemory({ name, create: true, size });
    try {
      const bytes = new Uint8Array(shm.buffer);
      for (let i = 0; i < size; i++) bytes[i] = pattern(i, 17);
      const run = await start('python3', [script, 'check', name, '17']).done;
      expect(run.stderr).toBe('');
      expect(run.stdout.trim()).toBe(`match ${size}`);
      // A wrong seed shows the check can fail.
      const wrong = await start('python3', [script, 'check', name, '19']).done;
      expect(wrong.stdout).toMatch(/^mismatch at/);
      // Still there for Node after Python exited.
      new SharedMemory({ name }).close();
    } finally {
      shm.close();
      shm.unlink();
    }
  });
});

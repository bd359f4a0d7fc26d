import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { SharedMemory } from '../lib/index.js';
import { fixtures, uniqueName } from './helpers.js';

function runWorker(name: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(join(fixtures, 'worker-attach.mjs'), { workerData: { name } });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

describe('worker_threads', () => {
  it('a worker attaches by name and sees the parent\'s writes (addon is context-aware)', async () => {
    const name = uniqueName('wk');
    const shm = new SharedMemory({ name, create: true, size: 64 });
    try {
      const view = new Int32Array(shm.buffer);
      view.set([1, 2, 3, 4]);
      const results = await Promise.all([runWorker(name), runWorker(name)]);
      expect(results).toEqual([
        [1, 2, 3, 4],
        [1, 2, 3, 4],
      ]);
      expect(view[4]).toBe(10);
    } finally {
      shm.close();
      shm.unlink();
    }
  });
});

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Event, SharedMemory } from '../dist/index.js';
import { fixtures, root, uniqueName } from './helpers.js';

function runWorker(name: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(join(fixtures, 'worker-attach.mjs'), { workerData: { name } });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

describe('worker_threads', () => {
  it("a worker attaches by name and sees the parent's writes (addon is context-aware)", async () => {
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

describe('worker_threads and blocking waits', () => {
  it('a worker blocked in a sync wait with no timeout still terminates (sync waits sleep in slices)', async () => {
    const name = uniqueName('wkev');
    const event = Event.create(name);
    try {
      const worker = new Worker(
        `const { workerData, parentPort } = require('node:worker_threads');
         import(workerData.url).then(({ Event }) => {
           const event = Event.open(workerData.name);
           parentPort.postMessage('waiting');
           event.waitSync();
         });`,
        { eval: true, workerData: { name, url: pathToFileURL(join(root, 'dist', 'index.js')).href } },
      );
      await new Promise((resolve) => worker.once('message', resolve));
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(await worker.terminate()).toBe(1);
    } finally {
      event.close();
      event.unlink();
    }
  });
});

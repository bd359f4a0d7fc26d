import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Event, Pipe, SharedMemory } from '../dist/index.js';
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

describe('worker_threads and channels', () => {
  it('a Pipe between the main thread and a worker carries messages both ways (each environment has its own rings in the addon)', async () => {
    const name = uniqueName('wkpipe');
    const pipe = Pipe.create(name, { capacity: 256 });
    try {
      const worker = new Worker(
        `const { workerData } = require('node:worker_threads');
         import(workerData.url).then(({ Pipe }) => {
           const pipe = Pipe.open(workerData.name);
           for (;;) {
             const message = pipe.recvSync();
             if (message === 'stop') break;
             pipe.sendSync(typeof message === 'string' ? message + '!' : message);
           }
           pipe.close();
         });`,
        { eval: true, workerData: { name, url: pathToFileURL(join(root, 'dist', 'index.js')).href } },
      );
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      for (let i = 0; i < 500; i++) {
        await pipe.send(`m${i}`);
        expect(await pipe.recv({ timeout: 5000 })).toBe(`m${i}!`);
      }
      const bytes = Buffer.from('bytes through the ring');
      await pipe.send(bytes);
      expect(Buffer.compare((await pipe.recv({ timeout: 5000 })) as Buffer, bytes)).toBe(0);
      await pipe.send('stop');
      expect(await exited).toBe(0);
    } finally {
      pipe.close();
      pipe.unlink();
    }
  });
});

// How every blocking operation ends, the same way for all of them: close()
// of the waiting handle ends its pending waits with ERR_SHM_CLOSED (and
// nothing else's), and an AbortSignal gives one AbortError whether it was
// aborted before the call (even when nothing had to wait) or during the wait.
// Run by waits.test.ts (this machine's engine: io_uring and doorbells where
// available) and waits-portable.test.ts (the waiter thread, no doorbells).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Barrier, Condition, Event, Lock, notify, Pipe, Queue, RLock, Semaphore, SharedMemory, ShmError, waitAsync } from '../dist/index.js';
import { rejection, Scratch, uniqueName } from './helpers.js';

const scratch = new Scratch();

/** A handle whose `wait` blocks until something else happens, and how to make it pass. */
interface Blocked {
  /** The handle that waits (closed by the close tests). */
  readonly waiter: { close(): void };
  /** Starts the blocking call. */
  wait(signal?: AbortSignal): Promise<unknown>;
  /** A second handle's wait on the same object (it must not be disturbed by the first's close). */
  other?(): Promise<unknown>;
  /** Lets waits pass. */
  unblock(): void;
}

type Case = [string, () => Blocked];

/** Sends until the pipe's ring is full. */
function fillPipe(pipe: Pipe): void {
  for (;;) {
    try {
      pipe.sendSync(Buffer.alloc(8), { timeout: 0 });
    } catch (err) {
      if ((err as ShmError).code === 'ERR_SHM_TIMEOUT') return;
      throw err;
    }
  }
}

const cases: Case[] = [
  [
    'Lock.acquire',
    () => {
      const name = uniqueName('wl');
      const holder = scratch.add(Lock.create(name));
      holder.acquireSync();
      const waiter = Lock.open(name);
      const other = scratch.add(Lock.open(name));
      return { waiter, wait: (signal) => waiter.acquire({ signal }), other: () => other.acquire(), unblock: () => holder.release() };
    },
  ],
  [
    'RLock.acquire',
    () => {
      const name = uniqueName('wr');
      const holder = scratch.add(RLock.create(name));
      holder.acquireSync();
      const waiter = RLock.open(name);
      const other = scratch.add(RLock.open(name));
      return { waiter, wait: (signal) => waiter.acquire({ signal }), other: () => other.acquire(), unblock: () => holder.release() };
    },
  ],
  [
    'Semaphore.acquire',
    () => {
      const name = uniqueName('ws');
      const owner = scratch.add(Semaphore.create(name, 0));
      const waiter = Semaphore.open(name);
      const other = scratch.add(Semaphore.open(name));
      return { waiter, wait: (signal) => waiter.acquire({ signal }), other: () => other.acquire(), unblock: () => owner.release() };
    },
  ],
  [
    'Event.wait',
    () => {
      const name = uniqueName('we');
      const owner = scratch.add(Event.create(name));
      const waiter = Event.open(name);
      const other = scratch.add(Event.open(name));
      return { waiter, wait: (signal) => waiter.wait({ signal }), other: () => other.wait(), unblock: () => owner.set() };
    },
  ],
  [
    'Condition.wait',
    () => {
      const name = uniqueName('wc');
      const owner = scratch.add(Condition.create(name));
      const waiter = Condition.open(name);
      const other = scratch.add(Condition.open(name));
      const waitOn = async (c: Condition, signal?: AbortSignal) => {
        await c.acquire();
        try {
          return await c.wait({ signal });
        } finally {
          if (!c.closed) c.release();
        }
      };
      return {
        waiter,
        wait: (signal) => waitOn(waiter, signal),
        other: () => waitOn(other),
        unblock: () => owner.withLockSync(() => owner.notifyAll()),
      };
    },
  ],
  [
    'Barrier.wait',
    () => {
      // Two parties: the owner's arrival lets the waiter pass. (A second
      // waiting handle is not left alone by a close: see barrier.test.ts.)
      const name = uniqueName('wb');
      const owner = scratch.add(Barrier.create(name, 2));
      const waiter = Barrier.open(name);
      return { waiter, wait: (signal) => waiter.wait({ signal }), unblock: () => void owner.wait().catch(() => {}) };
    },
  ],
  [
    'Queue.get',
    () => {
      const name = uniqueName('wqg');
      const owner = scratch.add(Queue.create(name, { capacity: 4096 }));
      const waiter = Queue.open(name);
      return { waiter, wait: (signal) => waiter.get({ signal }), unblock: () => owner.putSync('m') };
    },
  ],
  [
    'Queue.put',
    () => {
      const name = uniqueName('wqp');
      const owner = scratch.add(Queue.create(name, { capacity: 4096, maxsize: 1 }));
      owner.putSync('full');
      const waiter = Queue.open(name);
      return { waiter, wait: (signal) => waiter.put('m', { signal }), unblock: () => owner.getSync() };
    },
  ],
  [
    'Pipe.recv',
    () => {
      const name = uniqueName('wpr');
      const owner = scratch.add(Pipe.create(name, { capacity: 4096 }));
      const waiter = Pipe.open(name);
      return { waiter, wait: (signal) => waiter.recv({ signal }), unblock: () => owner.sendSync('m') };
    },
  ],
  [
    'Pipe.send',
    () => {
      const name = uniqueName('wps');
      const owner = scratch.add(Pipe.create(name, { capacity: 64 }));
      const waiter = Pipe.open(name);
      fillPipe(waiter);
      return { waiter, wait: (signal) => waiter.send(Buffer.alloc(8), { signal }), unblock: () => owner.recvSync() };
    },
  ],
  [
    'waitAsync on a SharedMemory word',
    () => {
      const name = uniqueName('ww');
      const owner = scratch.add(new SharedMemory({ name, create: true, size: 64 }));
      const waiter = new SharedMemory(name);
      const other = scratch.add(new SharedMemory(name));
      const word = new Int32Array(owner.buffer);
      return {
        waiter,
        wait: (signal) => waitAsync(new Int32Array(waiter.buffer), 0, 0, { signal }),
        other: () => waitAsync(new Int32Array(other.buffer), 0, 0),
        unblock: () => {
          Atomics.store(word, 0, 1);
          notify(word, 0);
        },
      };
    },
  ],
];

/** True if `promise` has not settled after `ms`. */
async function stillPending(promise: Promise<unknown>, ms = 30): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return !settled;
}

export function defineWaitTests(): void {
  afterEach(() => scratch.cleanup());

  describe.each(cases)('%s', (_label, make) => {
    it('close() of the waiting handle ends the wait with ERR_SHM_CLOSED, and leaves other handles waiting', async () => {
      const blocked = make();
      const pending = blocked.wait();
      const other = blocked.other?.();
      expect(await stillPending(pending)).toBe(true);
      blocked.waiter.close();
      const err = await rejection(pending);
      expect(err).toBeInstanceOf(ShmError);
      expect(err.code).toBe('ERR_SHM_CLOSED');
      if (other) {
        expect(await stillPending(other)).toBe(true);
        blocked.unblock();
        await other;
      }
    });

    it('an abort during the wait rejects with an AbortError carrying the reason', async () => {
      const blocked = make();
      const controller = new AbortController();
      const pending = blocked.wait(controller.signal);
      expect(await stillPending(pending)).toBe(true);
      const reason = new Error('stop');
      controller.abort(reason);
      const err = await rejection(pending);
      expect(err).toBeInstanceOf(ShmError);
      expect(err.name).toBe('AbortError');
      expect(err.code).toBe('ABORT_ERR');
      expect(err.cause).toBe(reason);
      blocked.waiter.close();
    });

    it('an already-aborted signal rejects the same way, even when nothing would have to wait', async () => {
      const blocked = make();
      blocked.unblock();
      await sleep(5);
      const reason = new Error('early');
      const err = await rejection(blocked.wait(AbortSignal.abort(reason)));
      expect(err.name).toBe('AbortError');
      expect(err.code).toBe('ABORT_ERR');
      expect(err.cause).toBe(reason);
      blocked.waiter.close();
    });
  });

  describe('after close()', () => {
    it('for await over a Queue ends without throwing when the handle is closed', async () => {
      const name = uniqueName('wiq');
      const queue = scratch.add(Queue.create(name));
      const reader = Queue.open(name);
      queue.putSync(1);
      const seen: unknown[] = [];
      const loop = (async () => {
        for await (const m of reader) seen.push(m);
      })();
      await sleep(30);
      reader.close();
      await loop;
      expect(seen).toEqual([1]);
    });

    it('for await over a Pipe ends without throwing when this end is closed', async () => {
      const name = uniqueName('wip');
      const end0 = scratch.add(Pipe.create(name));
      const end1 = Pipe.open(name);
      end0.sendSync('a');
      const seen: unknown[] = [];
      const loop = (async () => {
        for await (const m of end1) seen.push(m);
      })();
      await sleep(30);
      end1.close();
      await loop;
      expect(seen).toEqual(['a']);
    });

    it('a semaphore unit released after a pending acquire was closed is not lost', async () => {
      const name = uniqueName('wsu');
      const sem = scratch.add(Semaphore.create(name, 0));
      const waiter = Semaphore.open(name);
      const pending = waiter.acquire();
      await sleep(20);
      waiter.close();
      expect((await rejection(pending)).code).toBe('ERR_SHM_CLOSED');
      sem.release();
      await sleep(50); // the waiter thread may take the unit for the closed wait: it must give it back
      expect(sem.tryAcquire()).toBe(true);
    });

    it('an aborted semaphore acquire keeps no unit, even one released as it was aborted', async () => {
      const name = uniqueName('wsa');
      const sem = scratch.add(Semaphore.create(name, 0));
      for (let i = 0; i < 50; i++) {
        const controller = new AbortController();
        const pending = sem.acquire({ signal: controller.signal });
        await sleep(1);
        sem.release();
        controller.abort();
        const got = await pending.then(
          () => true,
          () => false,
        );
        await sleep(2);
        // Either the acquire got the unit, or the unit is still there to take.
        expect(got || sem.tryAcquire()).toBe(true);
        expect(sem.tryAcquire()).toBe(false);
      }
    });
  });
}

import { describe, expect, it } from 'vitest';
import { Event } from '../dist/index.js';
import { startFixture, uniqueName } from './helpers.js';

describe('Event across processes', () => {
  it('Event: set() in one process wakes waiters in two others', async () => {
    const name = uniqueName('ev');
    const event = Event.create(name);
    try {
      const waiters = [0, 1].map(() => startFixture('sync-peer.mjs', ['event-wait', name]));
      for (const w of waiters) await w.line((l) => l === 'waiting');
      await new Promise((resolve) => setTimeout(resolve, 50));
      event.set();
      for (const w of waiters) expect((await w.done).stdout).toContain('woke');
    } finally {
      event.close();
      event.unlink();
    }
  });
});

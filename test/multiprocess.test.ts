import { afterEach, describe, expect, it } from 'vitest';
import { SharedMemory } from '../dist/index.js';
import { type Running, startFixture, uniqueName } from './helpers.js';

const peers: Running[] = [];

function peer(): Running & { ask(command: string): Promise<string> } {
  const running = startFixture('segment-peer.mjs');
  peers.push(running);
  let asked = 0;
  return {
    ...running,
    async ask(command: string) {
      const index = asked++;
      running.send(command);
      let seen = -1;
      return running.line(() => ++seen === index);
    },
  };
}

afterEach(async () => {
  for (const p of peers.splice(0)) {
    p.child.stdin!.end();
    await p.done;
  }
});

describe('two unrelated node processes', () => {
  it('share the same bytes, both directions, knowing only the name', async () => {
    const name = uniqueName('mp');
    const size = 1 << 20;
    const a = peer();
    const b = peer();
    expect(await a.ask(`create ${name} ${size}`)).toBe(`ok ${name} ${size}`);
    expect(await a.ask(`write 0 ${size / 2} 3`)).toBe('ok written');

    expect(await b.ask(`open ${name}`)).toBe(`ok ${name} ${size}`);
    expect(await b.ask(`check 0 ${size / 2} 3`)).toBe('ok match');
    expect(await b.ask(`write ${size / 2} ${size / 2} 5`)).toBe('ok written');

    expect(await a.ask(`check ${size / 2} ${size / 2} 5`)).toBe('ok match');
    // The check can fail: a pattern nobody wrote does not match.
    expect(await a.ask(`check ${size / 2} ${size / 2} 9`)).toMatch(/^ok mismatch/);

    expect(await b.ask('close')).toBe('ok closed');
    expect(await a.ask('unlink')).toBe('ok unlinked');
    expect(await a.ask('close')).toBe('ok closed');
  });

  it('reports EEXIST to a second creator and ENOENT after unlink', async () => {
    const name = uniqueName('mp');
    const a = peer();
    const b = peer();
    expect(await a.ask(`create ${name} 4096`)).toBe(`ok ${name} 4096`);
    expect(await b.ask(`create ${name} 4096`)).toMatch(/^err EEXIST /);
    expect(await a.ask('unlink')).toBe('ok unlinked');
    expect(await b.ask(`open ${name}`)).toMatch(/^err ENOENT /);
    await a.ask('close');
  });

  it('keeps memory mapped in one process after another unlinks the name', async () => {
    const name = uniqueName('mp');
    const shm = new SharedMemory({ name, create: true, size: 4096 });
    const a = peer();
    expect(await a.ask(`open ${name}`)).toBe(`ok ${name} 4096`);
    shm.unlink();
    expect(await a.ask('write 0 4096 11')).toBe('ok written');
    const bytes = new Uint8Array(shm.buffer);
    expect(bytes[1]).toBe((11 + 7) & 255);
    shm.close();
    await a.ask('close');
  });
});

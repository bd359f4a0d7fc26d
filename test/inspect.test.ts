// util.inspect of every handle class: class, name, a short state and
// `closed`, never header words, mapped bytes or native handles; a closed
// handle prints too.
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Barrier,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  Pipe,
  Queue,
  RLock,
  Semaphore,
  ShareableList,
  Array as SharedArray,
  SharedList,
  SharedMap,
  SharedMemory,
  Value,
} from '../dist/index.js';
import { uniqueName } from './helpers.js';

interface Handle {
  name: string;
  close(): void;
  unlink(): void;
}

const made: Handle[] = [];
afterEach(() => {
  for (const handle of made.splice(0)) {
    handle.close();
    handle.unlink();
  }
});

function keep<H extends Handle>(handle: H): H {
  made.push(handle);
  return handle;
}

/** Each class, a factory, and the state it prints while open (Semaphore values need sem_getvalue: Linux). */
const cases: Array<[string, (name: string) => Handle, string]> = [
  ['SharedMemory', (n) => new SharedMemory({ name: n, create: true, size: 4096 }), 'size: 4096'],
  ['Value', (n) => Value.create(n, 'int32', 7), "dtype: 'int32'"],
  ['SharedArray', (n) => SharedArray.create(n, 'float64', 8), "dtype: 'float64', length: 8"],
  ['ShareableList', (n) => ShareableList.create(n, [1, 'two']), 'length: 2'],
  ['Lock', (n) => Lock.create(n), 'locked: false'],
  ['RLock', (n) => RLock.create(n), 'locked: false'],
  ['Semaphore', (n) => Semaphore.create(n, 3), process.platform === 'darwin' ? '' : 'value: 3'],
  ['BoundedSemaphore', (n) => BoundedSemaphore.create(n, 2), 'value: 2, bound: 2'],
  ['Event', (n) => Event.create(n), 'set: false'],
  ['Condition', (n) => Condition.create(n), ''],
  ['Barrier', (n) => Barrier.create(n, 3), 'parties: 3, nWaiting: 0, broken: false'],
  ['Queue', (n) => Queue.create(n, { capacity: 4096 }), 'capacity: 4096, qsize: 0'],
  ['Pipe', (n) => Pipe.create(n), "end: 'create', capacity:"],
  ['SharedMap', (n) => SharedMap.create(n), 'size: 0'],
  ['SharedList', (n) => SharedList.create(n), 'length: 0'],
];

describe('util.inspect of a handle', () => {
  it.each(cases)('%s prints its class, name, state and closed, and nothing else', (className, make, state) => {
    const name = uniqueName('insp');
    const handle = keep(make(name));
    const text = inspect(handle);
    expect(text.startsWith(`${className} { name: '${name}', ${state}`)).toBe(true);
    expect(text).toMatch(/closed: false \}$/);
    expect(text.length).toBeLessThan(160);
    expect(text).not.toMatch(/Uint8Array|Int32Array|ArrayBuffer|<Buffer|\[External/);
  });

  it.each(cases)('%s prints after close without throwing', (className, make) => {
    const name = uniqueName('insp');
    const handle = keep(make(name));
    handle.close();
    expect(inspect(handle)).toBe(`${className} { name: '${name}', closed: true }`);
  });

  it('shows the state as it changes, and a nested handle briefly', () => {
    const queue = keep(Queue.create(uniqueName('insp'), { capacity: 4096 }));
    queue.putSync('job');
    expect(inspect(queue)).toContain('qsize: 1');
    const event = keep(Event.create(uniqueName('insp')));
    event.set();
    expect(inspect(event)).toContain('set: true');
    expect(inspect({ queue }, { depth: 0 })).toBe(`{ queue: [Queue: '${queue.name}'] }`);
  });
});

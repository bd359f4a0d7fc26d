// How a handle that travels (lib/core/transfer.ts) is opened again, one
// opener per class: the one table, at the top of lib/ since it names every
// class. Importing 'shmkit' registers it, so a Queue or Pipe message that
// carries handles opens them as it is received; a Pool worker or Process
// child loads it when a message first carries one (lib/pool/handle-kinds.ts).
import { Pipe } from './channel/pipe.js';
import { Queue } from './channel/queue.js';
import { type Opener, registerOpeners } from './core/transfer.js';
import { SharedList } from './map/shared-list.js';
import { SharedMap } from './map/shared-map.js';
import { SharedArray } from './memory/array.js';
import { ShareableList } from './memory/shareable-list.js';
import { SharedMemory } from './memory/shared-memory.js';
import { Value } from './memory/value.js';
import { Barrier } from './sync/barrier.js';
import { BoundedSemaphore } from './sync/bounded-semaphore.js';
import { Condition } from './sync/condition.js';
import { Event } from './sync/event.js';
import { Lock, RLock } from './sync/lock.js';
import { Semaphore } from './sync/semaphore.js';

/** The opener of each kind a description names. */
export const OPENERS: Readonly<Record<string, Opener>> = {
  SharedMemory: (d) => new SharedMemory(d.name),
  Value: (d) => Value.open(d.name),
  Array: (d) => SharedArray.open(d.name),
  ShareableList: (d) => ShareableList.open(d.name),
  Lock: (d) => Lock.open(d.name),
  RLock: (d) => RLock.open(d.name),
  Semaphore: (d) => Semaphore.open(d.name),
  BoundedSemaphore: (d) => BoundedSemaphore.open(d.name),
  Event: (d) => Event.open(d.name),
  Condition: (d) => Condition.open(d.name),
  Barrier: (d) => Barrier.open(d.name),
  Queue: (d) => Queue.open(d.name),
  Pipe: (d) => Pipe.openEnd(d.name, d.end ?? 1),
  SharedMap: (d) => SharedMap.open(d.name),
  SharedList: (d) => SharedList.open(d.name),
};

registerOpeners(OPENERS);

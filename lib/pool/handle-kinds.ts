// The openers of handles that travel (lib/core/transfer.ts), one per
// class: each imports its class's module when a message first names that
// kind, so a process that receives no handle loads none of them.
import { type OpenedHandles, type OpenerLoaders, preloadOpeners, reviveHandles } from '../core/transfer.js';

/**
 * Loads the opener of each kind of description: the class's module is
 * imported only when a message first names that kind.
 */
export const HANDLE_KINDS: OpenerLoaders = {
  SharedMemory: async () => {
    const { SharedMemory } = await import('../memory/shared-memory.js');
    return (d) => new SharedMemory(d.name);
  },
  Value: async () => {
    const { Value } = await import('../memory/value.js');
    return (d) => Value.open(d.name);
  },
  Array: async () => {
    const { SharedArray } = await import('../memory/array.js');
    return (d) => SharedArray.open(d.name);
  },
  ShareableList: async () => {
    const { ShareableList } = await import('../memory/shareable-list.js');
    return (d) => ShareableList.open(d.name);
  },
  Lock: async () => {
    const { Lock } = await import('../sync/lock.js');
    return (d) => Lock.open(d.name);
  },
  RLock: async () => {
    const { RLock } = await import('../sync/lock.js');
    return (d) => RLock.open(d.name);
  },
  Semaphore: async () => {
    const { Semaphore } = await import('../sync/semaphore.js');
    return (d) => Semaphore.open(d.name);
  },
  BoundedSemaphore: async () => {
    const { BoundedSemaphore } = await import('../sync/bounded-semaphore.js');
    return (d) => BoundedSemaphore.open(d.name);
  },
  Event: async () => {
    const { Event } = await import('../sync/event.js');
    return (d) => Event.open(d.name);
  },
  Condition: async () => {
    const { Condition } = await import('../sync/condition.js');
    return (d) => Condition.open(d.name);
  },
  Barrier: async () => {
    const { Barrier } = await import('../sync/barrier.js');
    return (d) => Barrier.open(d.name);
  },
  Queue: async () => {
    const { Queue } = await import('../channel/queue.js');
    return (d) => Queue.open(d.name);
  },
  Pipe: async () => {
    const { Pipe } = await import('../channel/pipe.js');
    return (d) => Pipe.openEnd(d.name, d.end ?? 1);
  },
  SharedMap: async () => {
    const { SharedMap } = await import('../map/shared-map.js');
    return (d) => SharedMap.open(d.name);
  },
  SharedList: async () => {
    const { SharedList } = await import('../map/shared-list.js');
    return (d) => SharedList.open(d.name);
  },
};

/** `value` with each description in it replaced by an open handle (see reviveHandles). */
export function openHandles<T>(value: T, opened?: OpenedHandles): Promise<T> {
  return reviveHandles(value, HANDLE_KINDS, opened);
}

/** Loads every class's opener ahead (a spare Process child does, while it waits). */
export function preloadHandleKinds(): Promise<void> {
  return preloadOpeners(HANDLE_KINDS);
}

// Opening the handles in a Pool's or a Process's messages: the openers
// (lib/openers.ts) are imported when a message first carries a handle, so a
// process that receives none loads no class it does not use itself.
import { type OpenedHandles, type OpenersLoader, preloadOpeners, reviveHandles } from '../core/transfer.js';

/** The openers of every kind (lib/openers.ts), imported when a message first carries a handle. */
const loadOpeners: OpenersLoader = async () => (await import('../openers.js')).OPENERS;

/** `value` with each description in it replaced by an open handle (see reviveHandles). */
export function openHandles<T>(value: T, opened?: OpenedHandles): Promise<T> {
  return reviveHandles(value, loadOpeners, opened);
}

/** Loads every class's opener ahead (a spare Process child does, while it waits). */
export function preloadHandleKinds(): Promise<void> {
  return preloadOpeners(loadOpeners);
}

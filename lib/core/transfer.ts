// Handles that travel: a shmkit object in a Process's arguments, a Pool
// call's arguments or initargs, or a task's result crosses to the other
// process as a description (its kind and name, and for a Pipe the end to
// open), and arrives there as an open handle of the same class on the same
// object. Each class describes itself ([TRANSFER]); the openers of
// lib/openers.ts (the top of lib/, which may import every class) open a
// description again. A Pool worker or Process child imports them when a
// message first carries a handle; a Queue or Pipe message finds them
// registered by the import of 'shmkit'.
import { describeValue, invalidArg } from './errors.js';

/** The method by which a shmkit handle describes itself for another process. */
export const TRANSFER: unique symbol = Symbol('shmkit.transfer');

/** A handle as it crosses: its class and name (and, for a Pipe, the end the receiver opens). */
export interface HandleDescription {
  /** The class: 'Value', 'Queue', 'SharedMemory', ... */
  kind: string;
  name: string;
  /** Pipe only: the end the receiver opens (the one the sender does not hold). */
  end?: 0 | 1;
}

/** A shmkit handle: an object that can describe itself. */
export interface Transferable {
  [TRANSFER](): HandleDescription;
}

/**
 * The key that marks a description in a message. A plain object carrying
 * it stands for a handle; no user value is expected to have a key that
 * starts with a NUL byte.
 */
const MARK = '\u0000shmkit.handle';

/** How deep into arrays and plain objects handles are looked for: deeper values travel as they are (a cyclic value cannot loop). */
const MAX_DEPTH = 32;

/** Opens a description of one kind. */
export type Opener = (description: HandleDescription) => Transferable;

/** Loads the openers of every kind (lib/openers.ts, imported on first need: lib/pool/handle-kinds.ts). */
export type OpenersLoader = () => Promise<Readonly<Record<string, Opener>>>;

/** The openers known so far, by kind. */
const openers = new Map<string, Opener>();

/** Makes these openers known (lib/openers.ts does it when 'shmkit' is imported). */
export function registerOpeners(table: Readonly<Record<string, Opener>>): void {
  for (const [kind, opener] of Object.entries(table)) openers.set(kind, opener);
}

/** Loads the openers unless every kind in `kinds` has one already. */
async function loadOpeners(kinds: Iterable<string>, load: OpenersLoader): Promise<void> {
  for (const kind of kinds) {
    if (!openers.has(kind)) {
      registerOpeners(await load());
      return;
    }
  }
}

/** Loads every kind's opener ahead (a spare Process child, while it waits for work). */
export async function preloadOpeners(load: OpenersLoader): Promise<void> {
  registerOpeners(await load());
}

function isTransferable(value: object): value is Transferable {
  return typeof (value as Partial<Transferable>)[TRANSFER] === 'function';
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * `value` with every shmkit handle in it (itself, or nested in arrays and
 * plain objects) replaced by its description; `value` itself, untouched,
 * if it holds none (the common case costs no copy). Arrays and objects on
 * the way to a handle are copied, never changed.
 * @throws {ShmError} ERR_SHM_INVALID_ARG for a handle that cannot travel (closed, or a lock that belongs to a Value, Array or Condition)
 */
export function describeHandles<T>(value: T): T {
  return describeIn(value, 0) as T;
}

function describeIn(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (isTransferable(value)) return describeOne(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (typeof item !== 'object' || item === null) continue;
      const described = describeIn(item, depth + 1);
      if (described !== item) {
        copy ??= value.slice();
        copy[i] = described;
      }
    }
    return copy ?? value;
  }
  if (!isPlainObject(value) || ArrayBuffer.isView(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (typeof item !== 'object' || item === null) continue;
    const described = describeIn(item, depth + 1);
    if (described !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = described;
    }
  }
  return copy ?? value;
}

function describeOne(handle: Transferable): Record<string, unknown> {
  const closed = (handle as { closed?: unknown }).closed;
  if (closed === true) throw invalidArg(`a closed ${handle.constructor.name} cannot be passed to another process: pass an open handle`);
  const { kind, name, end } = handle[TRANSFER]();
  return end === undefined ? { [MARK]: kind, name } : { [MARK]: kind, name, end };
}

/**
 * The handles a receiver opened for one message, to close together (a
 * task's, when it ends) or to keep. Each object named twice in a message
 * is opened once.
 */
export class OpenedHandles {
  readonly #byKey = new Map<string, Transferable>();

  /** @internal Opens a description whose kind's opener is loaded. */
  open(description: HandleDescription): Transferable {
    const key = `${description.kind}\u0000${description.name}`;
    let handle = this.#byKey.get(key);
    if (handle === undefined) {
      handle = (openers.get(description.kind) as Opener)(description);
      this.#byKey.set(key, handle);
    }
    return handle;
  }

  /** Closes every handle opened here but those `keep()` was called on. */
  closeUnkept(): void {
    for (const handle of this.#byKey.values()) {
      if (!kept.has(handle)) (handle as unknown as Disposable)[Symbol.dispose]();
    }
    this.#byKey.clear();
  }
}

/**
 * `value` with every description in it replaced by an open handle (opened
 * into `opened`); `value` itself if `value` holds none. If one cannot be
 * opened (its name was removed meanwhile), those opened so far are closed
 * and the error is thrown.
 */
export async function reviveHandles<T>(value: T, load: OpenersLoader, opened: OpenedHandles = new OpenedHandles()): Promise<T> {
  const kinds = new Set<string>();
  kindsIn(value, kinds, 0);
  if (kinds.size === 0) return value;
  await loadOpeners(kinds, load);
  return reviveKnown(value, kinds, opened);
}

/**
 * As reviveHandles, now, for a message received synchronously (a Queue's or
 * Pipe's): the openers must be known already, as they are wherever 'shmkit'
 * itself was imported. The receiver owns the handles it gets.
 * @throws {ShmError} ERR_SHM_INVALID_ARG for a kind this process has no opener for
 */
export function reviveHandlesNow<T>(value: T): T {
  const kinds = new Set<string>();
  kindsIn(value, kinds, 0);
  if (kinds.size === 0) return value;
  return reviveKnown(value, kinds, new OpenedHandles());
}

function reviveKnown<T>(value: T, kinds: Set<string>, opened: OpenedHandles): T {
  for (const kind of kinds) {
    if (!openers.has(kind)) {
      throw invalidArg(
        `a message carries a handle of kind ${describeValue(kind)}, which this process cannot open (import 'shmkit' itself, not a file of it; or a newer shmkit sent it)`,
      );
    }
  }
  try {
    return reviveIn(value, opened, 0) as T;
  } catch (err) {
    opened.closeUnkept();
    throw err;
  }
}

/** The kind of a description, or undefined for any other value. */
function describedKind(value: object): string | undefined {
  if (Array.isArray(value) || !isPlainObject(value)) return undefined;
  const kind = (value as Record<string, unknown>)[MARK];
  return typeof kind === 'string' ? kind : undefined;
}

/** Adds the kinds of the descriptions in `value` to `kinds`. */
function kindsIn(value: unknown, kinds: Set<string>, depth: number): void {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return;
  const kind = describedKind(value);
  if (kind !== undefined) {
    kinds.add(kind);
    return;
  }
  if (Array.isArray(value) || isPlainObject(value)) for (const item of Object.values(value)) kindsIn(item, kinds, depth + 1);
}

/** Replaces, in place, each description in `value` by its open handle; returns `value` (or the handle it is). */
function reviveIn(value: unknown, opened: OpenedHandles, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  const kind = describedKind(value);
  if (kind !== undefined) {
    const record = value as Record<string, unknown>;
    return opened.open({ kind, name: String(record.name), end: record.end as 0 | 1 | undefined });
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (typeof item === 'object' && item !== null) value[i] = reviveIn(item, opened, depth + 1);
    }
  } else if (isPlainObject(value)) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const item = record[key];
      if (typeof item === 'object' && item !== null) record[key] = reviveIn(item, opened, depth + 1);
    }
  }
  return value;
}

const kept = new WeakSet<object>();

/**
 * Keeps a handle a task received as an argument open after the task ends
 * (a Pool task's handles are closed when it ends, so a task that stores
 * one for later tasks of its worker keeps it). Returns the handle.
 * @throws {ShmError} ERR_SHM_INVALID_ARG if `handle` is not a shmkit object
 */
export function keep<T extends object>(handle: T): T {
  if (handle === null || typeof handle !== 'object' || !isTransferable(handle)) throw invalidArg(`keep() takes a shmkit handle, got ${describeValue(handle)}`);
  kept.add(handle);
  return handle;
}

// Which process this is, and which started it (Python's
// multiprocessing.current_process() and parent_process()). Kept on
// globalThis under a registered symbol: a task module that imports another
// copy of shmkit than the one that started it sees the same answer.

/** A process as `currentProcess()` and `parentProcess()` describe it. */
export interface ProcessInfo {
  /** 'MainProcess' for a program started by hand, the `name` option of its `Process`, or `PoolWorker-<pid>` for a Pool's worker. */
  readonly name: string;
  readonly pid: number;
}

interface Identity {
  name: string;
  parent: ProcessInfo | null;
}

const KEY = Symbol.for('shmkit.process.identity');

function identity(): Identity {
  const global = globalThis as { [KEY]?: Identity };
  global[KEY] ??= { name: 'MainProcess', parent: null };
  return global[KEY];
}

/** @internal Set by a Process child or a Pool worker before it loads the user's module. */
export function setIdentity(name: string, parent: ProcessInfo): void {
  const current = identity();
  current.name = name;
  current.parent = { name: parent.name, pid: parent.pid };
}

/** This process: its name and pid. */
export function currentProcess(): ProcessInfo {
  return { name: identity().name, pid: process.pid };
}

/** The process that started this one with `Process` or `Pool` (its name and pid), or null for a program started otherwise. */
export function parentProcess(): ProcessInfo | null {
  const parent = identity().parent;
  return parent === null ? null : { ...parent };
}

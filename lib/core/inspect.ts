// How every handle prints under console.log / util.inspect: its class, name,
// a short state and whether it is closed, e.g.
// `Queue { name: 'jobs', capacity: 4096, qsize: 0, closed: false }`. Never
// the fields behind it (header words, mapped bytes, native handles), which
// are noise at best and a fault at worst on an unmapped handle.
import type { InspectOptionsStylized } from 'node:util';

/** Node's hook for util.inspect (a registered symbol, so no import of node:util at run time). */
export const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

export type Inspect = (value: unknown, options?: InspectOptionsStylized) => string;

/** What a handle shows: `state` runs only while it is open (its getters throw once closed). */
export interface Inspectable {
  readonly name: string;
  readonly closed: boolean;
}

/**
 * The text util.inspect prints for `handle`. `depth < 0` (nested too deep)
 * prints `[Queue: 'jobs']`.
 */
export function inspectHandle(
  handle: Inspectable,
  state: () => Record<string, unknown>,
  depth: number,
  options: InspectOptionsStylized,
  inspect: Inspect,
): string {
  const className = handle.constructor.name;
  const closed = handle.closed;
  if (depth < 0) return options.stylize(`[${className}: ${inspect(handle.name)}]`, 'special');
  const fields: Record<string, unknown> = { name: handle.name, ...(closed ? {} : state()), closed };
  return `${className} ${inspect(fields, { ...options, breakLength: Number.POSITIVE_INFINITY })}`;
}

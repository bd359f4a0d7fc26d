// The targets of bench/process.mjs.

/** Runs and returns at once: start() has resolved by the time it is called. */
export function noop() {}

/** How many of its arguments are open handles (each opened for the call). */
export function count(...handles) {
  return handles.filter((handle) => handle?.closed === false).length;
}

// The tasks of bench/pool.mjs, for shmkit's Pool, the fork pool and piscina alike.
import { countPrimes } from '../examples/tasks/primes.mjs';

export { countPrimes };

export function add(a, b) {
  return a + b;
}

/** Busy for `ms`: the long task of the head-of-line row. */
export function spin(ms) {
  const until = Date.now() + ms;
  while (Date.now() < until);
  return ms;
}

/** piscina's entry: one argument, { fn, args }. */
export default function piscinaTask({ fn, args }) {
  return fn === 'add' ? add(...args) : countPrimes(...args);
}

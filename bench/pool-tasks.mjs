// The tasks of bench/pool.mjs, for shmkit's Pool, the fork pool and piscina alike.
import { countPrimes } from '../examples/tasks/primes.mjs';

export { countPrimes };

export function add(a, b) {
  return a + b;
}

/** piscina's entry: one argument, { fn, args }. */
export default function piscinaTask({ fn, args }) {
  return fn === 'add' ? add(...args) : countPrimes(...args);
}

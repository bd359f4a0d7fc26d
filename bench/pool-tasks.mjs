// The tasks of bench/pool.mjs, for shmkit's Pool, the fork pool and piscina alike.

/** Primes in [start, end) by trial division: CPU-bound, no allocation. */
export function countPrimes([start, end]) {
  let count = 0;
  for (let n = Math.max(2, start); n < end; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

export function add(a, b) {
  return a + b;
}

/** piscina's entry: one argument, { fn, args }. */
export default function piscinaTask({ fn, args }) {
  return fn === 'add' ? add(...args) : countPrimes(...args);
}

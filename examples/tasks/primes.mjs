// The task module of examples/primes.mjs and examples/fill-shared.mjs: pool
// workers import it and run its exported functions by name.
import { Array as SharedArray } from 'shmkit';

/** Primes in [start, end), by trial division. */
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

/** Fills elements [start, end) of the shared Float64 Array `name` with sin(i). */
export function fillSines([name, start, end]) {
  const shared = SharedArray.open(name, { dtype: 'float64' });
  try {
    for (let i = start; i < end; i++) shared.array[i] = Math.sin(i);
  } finally {
    shared.close();
  }
  return end - start;
}

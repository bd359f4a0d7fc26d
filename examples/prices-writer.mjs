// Program 1: publishes a shared Array and a Value by name, then updates them.
//   node examples/prices-writer.mjs
import { Array, Value } from 'shmkit';

const prices = Array.create('demo-prices', 'float64', [101.5, 99.25, 100]);
const ticks = Value.create('demo-ticks', 'int64', 0n);

for (let i = 0; i < 1000; i++) {
  ticks.lock.withLockSync(() => {
    prices.array[i % 3] += 0.25; // a plain Float64Array over shared memory
    ticks.value += 1n;
  });
}
console.log('writer: 1000 ticks published');
prices.close();
ticks.close(); // both stay available by name until someone unlinks them

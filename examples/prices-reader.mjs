// Program 2, started on its own: opens both objects by name alone; dtype and
// length come from the segments.
//   node examples/prices-reader.mjs
import { Array, Value } from 'shmkit';

const prices = Array.open('demo-prices');
const ticks = Value.open('demo-ticks');
ticks.lock.withLockSync(() => {
  console.log(`reader: ${ticks.value} ticks; ${prices.dtype} prices: ${prices.array.join(', ')}`);
});
prices.close();
ticks.close();
prices.unlink();
ticks.unlink();

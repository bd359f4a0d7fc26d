// The targets of examples/producer-consumer.mjs, examples/counter.mjs and
// examples/pool-queue.mjs. shmkit objects passed as arguments arrive here
// open: a Queue is a Queue, a Value a Value.

/** Puts 1..count on the queue, then null to say it is done. */
export async function produce(queue, count) {
  for (let i = 1; i <= count; i++) await queue.put(i);
  await queue.put(null);
}

/** Takes numbers off the queue until null; returns how many and their sum. */
export async function consume(queue) {
  let items = 0;
  let sum = 0;
  for (let item = await queue.get(); item !== null; item = await queue.get()) {
    items += 1;
    sum += item;
  }
  return { items, sum };
}

/** Adds 1 to the counter `times` times, each under the counter's own lock. */
export function increment(counter, times) {
  for (let i = 0; i < times; i++) {
    counter.lock.acquireSync();
    try {
      counter.value += 1;
    } finally {
      counter.lock.release();
    }
  }
}

/** A Pool task: reports n's square on the queue it was given. */
export async function report(queue, n) {
  await queue.put({ n, square: n * n, pid: process.pid });
}

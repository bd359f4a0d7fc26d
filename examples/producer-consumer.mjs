// Producer and consumer, each its own process, joined by a Queue passed as
// an argument (Python's `Process(target=f, args=(q,))`).
//   node examples/producer-consumer.mjs
import { Process, Queue } from 'shmkit';

const tasks = new URL('./tasks/processes.mjs', import.meta.url);
const queue = Queue.create(`jobs-${process.pid}`, { unlinkOnExit: true });
const producer = new Process(tasks, 'produce', { args: [queue, 1000], name: 'producer' });
const consumer = new Process(tasks, 'consume', { args: [queue], name: 'consumer' });
await Promise.all([producer.start(), consumer.start()]);
const { items, sum } = await consumer.result;
await Promise.all([producer.join(), consumer.join()]);
console.log(`consumer got ${items} items from the producer, sum ${sum}`);
queue.close();

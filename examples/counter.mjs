// Two processes add to one shared Value, each increment under the Value's
// own lock: no update is lost.
//   node examples/counter.mjs
import { Process, Value } from 'shmkit';

const tasks = new URL('./tasks/processes.mjs', import.meta.url);
const counter = Value.create(`counter-${process.pid}`, 'int32', 0, { unlinkOnExit: true });
const workers = [1, 2].map((i) => new Process(tasks, 'increment', { args: [counter, 10_000], name: `adder-${i}` }));
for (const worker of workers) await worker.start();
for (const worker of workers) await worker.join();
console.log(`counter = ${counter.value} (2 processes x 10000 increments under its lock)`);
counter.close();

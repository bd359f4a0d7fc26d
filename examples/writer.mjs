// Program 1: creates a named segment, writes numbers into it, and exits.
// The segment outlives this process: nothing is unlinked implicitly.
//   node examples/writer.mjs [name]
import { SharedMemory } from 'shmkit';

const name = process.argv[2] ?? 'shmkit-demo';
const count = 8;
const shm = new SharedMemory({ name, create: true, size: count * Float64Array.BYTES_PER_ELEMENT });
const numbers = new Float64Array(shm.buffer); // a view straight onto shared memory
for (let i = 0; i < count; i++) numbers[i] = Math.sqrt(i);
console.log(`writer (pid ${process.pid}): wrote ${count} square roots into "${shm.name}" and exits`);
shm.close();

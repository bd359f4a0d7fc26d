// Program 2, started on its own: attaches to the segment by name alone,
// prints the numbers, then removes the name.
//   node examples/reader.mjs [name]
import { SharedMemory } from 'shmkit';

const name = process.argv[2] ?? 'shmkit-demo';
const shm = new SharedMemory({ name }); // size comes from the segment itself
const numbers = new Float64Array(shm.buffer);
console.log(`reader (pid ${process.pid}): "${shm.name}" holds ${shm.size} bytes:`);
console.log(Array.from(numbers, (x) => x.toFixed(4)).join(' '));
shm.close();
shm.unlink();

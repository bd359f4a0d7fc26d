// Producer and consumers as separate processes, joined by a shmkit Queue,
// ended by a sentinel per consumer (Python's "poison pill"): the producer
// puts the jobs, then one `null` for each consumer, which stops at it.
//   node examples/pipeline.mjs
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Queue } from 'shmkit';

const CONSUMERS = 2;
const [role, name] = process.argv.slice(2);

if (role === 'consumer') {
  const jobs = Queue.open(name);
  let done = 0;
  let total = 0;
  for (;;) {
    const job = await jobs.get();
    if (job === null) break; // the sentinel
    total += job.n * job.n;
    done++;
  }
  jobs.close();
  console.log(`consumer ${process.pid}: ${done} jobs, sum of squares ${total}`);
} else {
  const queueName = `pipeline-${process.pid}`;
  const jobs = Queue.create(queueName, { capacity: 1 << 16 });
  try {
    const consumers = Array.from({ length: CONSUMERS }, () =>
      spawn(process.execPath, [fileURLToPath(import.meta.url), 'consumer', queueName], { stdio: 'inherit' }),
    );
    for (let n = 1; n <= 10_000; n++) await jobs.put({ n });
    for (let i = 0; i < CONSUMERS; i++) await jobs.put(null);
    await Promise.all(consumers.map((child) => once(child, 'exit')));
    console.log(`producer: 10000 jobs, expected sum of squares ${(10_000 * 10_001 * 20_001) / 6}`);
  } finally {
    jobs.close();
    jobs.unlink();
  }
}

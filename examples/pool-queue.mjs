// Pool tasks that receive a Queue as an argument and report on it while
// the main process reads.
//   node examples/pool-queue.mjs
import { Pool, Queue } from 'shmkit';

const queue = Queue.create(`reports-${process.pid}`, { unlinkOnExit: true });
const pool = new Pool(new URL('./tasks/processes.mjs', import.meta.url), { processes: 2 });
try {
  await pool.starmap(
    'report',
    [1, 2, 3, 4].map((n) => [queue, n]),
  );
  const reports = [];
  for (let i = 0; i < 4; i++) reports.push(await queue.get());
  const total = reports.reduce((sum, report) => sum + report.square, 0);
  console.log(`${reports.length} reports on the queue, squares sum to ${total}`);
} finally {
  await pool.close();
  queue.close();
}

// One of the two processes of the contended-increment benchmark.
//   node bench/contender.mjs shmkit|semaphore LOCK_OR_SEM COUNTER CTL N
// Waits for its peer through CTL, does N lock/increment/unlock, prints its ns.
import { Lock, Semaphore, SharedArray, Value } from 'shmkit';

const [kind, lockName, counterName, ctlName, n] = process.argv.slice(2);
const counter = Value.open(counterName);
const ctl = SharedArray.open(ctlName);
const lock = kind === 'shmkit' ? Lock.open(lockName) : Semaphore.open(lockName);
const count = Number(n);

Atomics.add(ctl.array, 0, 1);
while (Atomics.load(ctl.array, 0) < 2);
const t0 = process.hrtime.bigint();
for (let i = 0; i < count; i++) {
  lock.acquireSync();
  counter.value += 1n;
  lock.release();
}
console.log(String(process.hrtime.bigint() - t0));

// The client side of bench/waits.mjs's idle-gap test in a process of its own
// (with the wait settings of its environment), against a channel peer in
// another: prints the median round trip in us.
//   node bench/idle-client.mjs GAP_MS N
import { Pipe } from 'shmkit';
import { exited, roundTrips, spawnPeer, uid } from './lib.mjs';

const [gapMs, n] = process.argv.slice(2).map(Number);
const MESSAGE = 'x'.repeat(32);
const name = uid('bw');
const pipe = Pipe.create(name, { capacity: 1 << 16 });
const peer = spawnPeer(['pipe-async', name]);
try {
  await pipe.recv(); // "ready"
  const us = await roundTrips(n, gapMs, async () => {
    await pipe.send(MESSAGE);
    await pipe.recv();
  });
  console.log(us);
} finally {
  pipe.close();
  await exited(peer);
  pipe.unlink();
}

// The far side of the channel benchmarks: a separate node process.
//   node bench/channel-peer.mjs MODE ARGS...
import { connect } from 'node:net';
import { Pipe, Queue, SharedMemory } from 'shmkit';

const [mode, ...args] = process.argv.slice(2);

function untilClosed(loop) {
  try {
    loop();
  } catch (err) {
    if (err.code !== 'ERR_SHM_PIPE_CLOSED') throw err;
  }
}

// Each peer says "ready" on its channel once it is up, so no timing includes
// a process start.

/** What a receiver does with a big message: reads one byte per 4 KiB page (as a consumer that uses it would fault it in). */
function touch(bytes) {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 4096) sum += bytes[i];
  return sum;
}
const modes = {
  // Round-trip echoes.
  'pipe-awake'() {
    const pipe = Pipe.open(args[0]);
    pipe.sendSync('ready');
    untilClosed(() => {
      for (;;) {
        while (!pipe.pollSync());
        pipe.sendSync(pipe.recvSync());
      }
    });
  },
  'pipe-sync'() {
    const pipe = Pipe.open(args[0]);
    pipe.sendSync('ready');
    untilClosed(() => {
      for (;;) pipe.sendSync(pipe.recvSync());
    });
  },
  async 'pipe-async'() {
    const pipe = Pipe.open(args[0]);
    await pipe.send('ready');
    for await (const m of pipe) await pipe.send(m);
  },
  // The floor: a round trip of one int32 through shared memory, no channel.
  'bare-pong'() {
    const words = new Int32Array(new SharedMemory(args[0]).buffer);
    Atomics.store(words, 32, 1); // ready
    for (let seen = 0; ; ) {
      const now = Atomics.load(words, 0);
      if (now === seen) continue;
      if (now < 0) return;
      seen = now;
      Atomics.store(words, 16, now);
    }
  },
  'queue-sync'() {
    const [inbox, outbox] = args.map((name) => Queue.open(name));
    outbox.putSync('ready');
    for (;;) {
      const m = inbox.getSync();
      if (m === 'STOP') return;
      outbox.putSync(m);
    }
  },
  async 'queue-async'() {
    const [inbox, outbox] = args.map((name) => Queue.open(name));
    await outbox.put('ready');
    for (;;) {
      const m = await inbox.get();
      if (m === 'STOP') return;
      await outbox.put(m);
    }
  },
  'ipc-echo'() {
    process.send('ready');
    process.on('message', (m) => (m === 'STOP' ? process.disconnect() : process.send(m)));
  },
  'socket-echo'() {
    const socket = connect(args[0]);
    socket.setNoDelay(true);
    socket.on('data', (d) => socket.write(d));
    socket.on('error', () => {});
  },
  // Throughput sinks: take COUNT messages, then answer once.
  'pipe-sink'() {
    const pipe = Pipe.open(args[0]);
    pipe.sendSync('ready');
    const count = Number(args[1]);
    for (let i = 0; i < count; i++) touch(pipe.recvSync());
    pipe.sendSync('done');
    pipe.close();
  },
  'pipe-sink-into'() {
    const pipe = Pipe.open(args[0]);
    pipe.sendSync('ready');
    const count = Number(args[1]);
    const into = Buffer.alloc(1 << 20);
    for (let i = 0; i < count; i++) touch(into.subarray(0, pipe.recvBytesIntoSync(into)));
    pipe.sendSync('done');
    pipe.close();
  },
  'pipe-sink-view'() {
    const pipe = Pipe.open(args[0]);
    pipe.sendSync('ready');
    const count = Number(args[1]);
    for (let i = 0; i < count; i++) {
      const view = pipe.recvViewSync();
      touch(view.bytes);
      view.release();
    }
    pipe.sendSync('done');
    pipe.close();
  },
  'queue-sink'() {
    const [inbox, outbox] = [Queue.open(args[0]), Queue.open(args[1])];
    outbox.putSync('ready');
    const count = Number(args[2]);
    for (let i = 0; i < count; i++) touch(inbox.getSync());
    outbox.putSync('done');
  },
  'ipc-sink'() {
    process.send('ready');
    let left = Number(args[0]);
    process.on('message', (m) => {
      touch(typeof m === 'string' ? [] : m);
      if (--left === 0) {
        process.send('done');
        process.disconnect();
      }
    });
  },
  'socket-sink'() {
    let left = Number(args[1]);
    const socket = connect(args[0]);
    socket.on('data', (d) => {
      touch(d); // chunks of up to 64 KiB: a byte per 4 KiB of each
      left -= d.length;
      if (left === 0) socket.end('d');
    });
  },
};

await modes[mode]();

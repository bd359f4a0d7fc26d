// The pieces of a message's send + receive in one process, ns per call
// (docs/design.md, "Messages"): the codec's encode and its in-place decode
// of `{ id, op, key }` (the frame far into a ring, as it lies in one),
// msgpackr's pack and unpack of it for reference, and a send + receive
// through one Pipe for each shape of bench/messages.mjs. Medians of
// ROUNDS blocks of CALLS calls, the cases interleaved.
//   node bench/message-parts.mjs            (run it alternately with another
//                                            build's, under the timing lock)
import { Packr } from 'msgpackr';
import { Pipe } from 'shmkit';
import { decodePlainAt, emptyEncoded, encode } from '../dist/channel/codec.js';
import { machine, uid } from './lib.mjs';

const CALLS = 20_000;
const ROUNDS = 9;
/** Where the frame lies in a ring of 1 MiB: msgpackr's key cache works only in a buffer's first 180 bytes. */
const FRAME_AT = 500_000;

const object = { id: 12345, op: 'get', key: 'user:1234:profile' };
const packr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });
const packed = packr.pack(object);
const ring = Buffer.alloc(1 << 20);
ring.set(packed, FRAME_AT);
const encoded = emptyEncoded();

const name = uid('bp');
const pipe = Pipe.create(name, { capacity: 1 << 20 });
const other = Pipe.open(name);
const shapes = { string: 'x'.repeat(64), buffer: Buffer.alloc(64, 7), float64Array: new Float64Array(8).fill(1.5), object };

/** Where each call's result goes, so that no call is optimized away. */
const kept = { value: undefined };
const cases = {
  'codec encode (object)': () => {
    kept.value = encode(object, encoded);
  },
  'codec decode in place (object)': () => {
    kept.value = decodePlainAt(ring, FRAME_AT, FRAME_AT + packed.length);
  },
  'msgpackr pack (object)': () => {
    kept.value = packr.pack(object);
  },
  'msgpackr unpack, own buffer (object)': () => {
    kept.value = packr.unpack(packed);
  },
  ...Object.fromEntries(
    Object.entries(shapes).map(([shape, message]) => [
      `Pipe send + receive (${shape})`,
      () => {
        pipe.sendSync(message);
        kept.value = other.recvSync();
      },
    ]),
  ),
};

const samples = {};
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, call] of Object.entries(cases)) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < CALLS; i++) call();
      samples[label] ??= [];
      samples[label].push(Number(process.hrtime.bigint() - t0) / CALLS);
    }
  }
} finally {
  other.close();
  pipe.close();
  pipe.unlink();
}
console.log(`Pieces of a message, in one process (${machine()}); ns per call, median (min) of ${ROUNDS} blocks of ${CALLS}`);
for (const [label, values] of Object.entries(samples)) {
  values.sort((a, b) => a - b);
  console.log(`  ${label.padEnd(38)} ${values[values.length >> 1].toFixed(0).padStart(6)} (${values[0].toFixed(0)})`);
}

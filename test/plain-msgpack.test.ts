// Plain data as MessagePack (lib/channel/plain.ts) against another program's
// MessagePack: msgpackr, which wrote every plain message before, reads what
// this writer writes alike, and whatever msgpackr writes (also what this
// reader leaves to it: binaries, extensions, 64-bit integers, non-string
// keys) reads back as msgpackr reads it. In one process: the cross-process
// paths are test/codec.test.ts's.
import { isDeepStrictEqual } from 'node:util';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { packPlain, unpackPlainAt } from '../dist/channel/plain.js';

const msgpackr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });
/** msgpackr as another program may set it: the smallest map header for each map (the default writes 16-bit ones). */
const variableMaps = new Packr({ useRecords: false, variableMapSize: true });

/** Larger than a test ring holds: the 32-bit string, array and map headers. */
const big = {
  text: 'é'.repeat(70_000),
  list: Array.from({ length: 70_000 }, (_, i) => i % 7),
  map: Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i])),
};

/** `bytes` at an offset in a larger buffer, as a frame lies in a ring. */
function inFrame(bytes: Uint8Array): [Buffer, number, number] {
  const ring = Buffer.alloc(bytes.length + 24, 0xff);
  ring.set(bytes, 16);
  return [ring, 16, 16 + bytes.length];
}

describe('plain data as MessagePack', () => {
  it('writes what msgpackr reads back as the value sent, 32-bit headers included', () => {
    for (const value of [big, { id: 12345, op: 'get', key: 'user:1234:profile' }, [undefined, null, -0.5, 2 ** 53, 'ü']]) {
      const bytes = packPlain(value);
      expect(bytes).toBeDefined();
      expect(isDeepStrictEqual(msgpackr.unpack(bytes as Uint8Array), value)).toBe(true);
      expect(isDeepStrictEqual(unpackPlainAt(...inFrame(bytes as Uint8Array)), value)).toBe(true);
    }
  });

  it('reads what msgpackr writes as msgpackr reads it, including what it leaves to msgpackr', () => {
    const values = [
      big,
      { when: 1, blob: Buffer.from([1, 2, 3]) }, // a binary
      { n: 2 ** 63, m: -(2 ** 62) }, // 64-bit integers
      new Map<unknown, unknown>([
        [1, 'a number key'],
        ['k', true],
      ]),
      { f: Math.fround(1.1) },
      { nested: [{ a: [[]] }, {}, ''] },
    ];
    for (const value of values) {
      for (const writer of value === big ? [variableMaps] : [msgpackr, variableMaps]) {
        const bytes = writer.pack(value);
        expect(unpackPlainAt(...inFrame(bytes))).toEqual(msgpackr.unpack(bytes));
      }
    }
    // "__proto__" as a key: msgpackr renames it rather than set a prototype.
    const proto = Buffer.from('81a95f5f70726f746f5f5f01', 'hex');
    const read = unpackPlainAt(...inFrame(proto)) as object;
    expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
    expect(read).toEqual(msgpackr.unpack(proto));
  });

  it('throws for bytes that are not one whole MessagePack value', () => {
    const bytes = packPlain({ a: 'text', b: [1, 2, 3] }) as Uint8Array;
    const [ring, start, end] = inFrame(bytes);
    expect(() => unpackPlainAt(ring, start, end - 1)).toThrow(); // cut short
    expect(() => unpackPlainAt(ring, start, end + 1)).toThrow(); // a byte left over
    expect(() => unpackPlainAt(Buffer.from([0x92, 0x01]), 0, 2)).toThrow(); // an array missing an element
  });

  it('leaves bytes handed out intact while later messages are written, a scratch filled and replaced between them', () => {
    const first = packPlain({ first: 'x'.repeat(20) }) as Uint8Array;
    const copy = Uint8Array.from(first);
    for (let i = 0; i < 200; i++) packPlain({ i, filler: 'y'.repeat(i * 10) });
    packPlain('z'.repeat(3 << 20)); // a scratch larger than is kept
    packPlain({ after: true });
    expect(first).toEqual(copy);
  });

  it('a getter that packs a message of its own leaves the one being packed whole (its own takes the structured way)', () => {
    let inner: Uint8Array | undefined | null = null;
    const value = {
      a: 'outer',
      get b() {
        inner = packPlain({ nested: 'x'.repeat(10) });
        return 2;
      },
      c: 'after',
    };
    const bytes = packPlain(value) as Uint8Array;
    expect(inner).toBeUndefined();
    expect(msgpackr.unpack(bytes)).toEqual({ a: 'outer', b: 2, c: 'after' });
    expect(msgpackr.unpack(packPlain({ next: 1 }) as Uint8Array)).toEqual({ next: 1 });
  });

  it('says what is not plain data, with nothing handed out', () => {
    const sparse = [1];
    sparse[2] = 3;
    for (const value of [-0, [1, -0], new Date(0), new Map(), sparse, 'a\uD800', { '\uDC00': 1 }, 1n, Symbol('s'), () => 1, new Uint8Array(1)]) {
      expect(packPlain(value)).toBeUndefined();
    }
  });
});

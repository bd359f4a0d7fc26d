import { describe, expect, it } from 'vitest';
import { type DType, Event, SharedArray as Exported, Semaphore, Array as SharedArray, SharedMemory, Value, wait } from '../dist/index.js';
import { expectCode, uniqueName } from './helpers.js';

const EXTREMES: Record<DType, Array<number | bigint>> = {
  int8: [-128, 127, 0, -1],
  uint8: [0, 255, 1],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n],
  uint64: [0n, 2n ** 64n - 1n, 2n ** 63n],
  float32: [NaN, -0, Infinity, -Infinity, 3.4028234663852886e38, 1.401298464324817e-45, -1.5],
  float64: [NaN, -0, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, -Number.EPSILON],
};

describe('dtypes', () => {
  for (const [dtype, values] of Object.entries(EXTREMES) as Array<[DType, Array<number | bigint>]>) {
    it(`${dtype} round-trips its extreme values through another handle`, () => {
      const vname = uniqueName('v');
      const aname = uniqueName('a');
      const array = SharedArray.create(aname, dtype, values);
      const opened = SharedArray.open(aname);
      try {
        expect(opened.dtype).toBe(dtype);
        expect(Array.from(opened.array as ArrayLike<number | bigint>)).toEqual(values); // toEqual: NaN equals NaN, -0 !== 0
        for (const v of values) {
          const value = Value.create(vname, dtype, v as never);
          const other = Value.open(vname);
          expect(Object.is(other.value, v)).toBe(true);
          value.close();
          other.close();
          Value.unlink(vname);
        }
      } finally {
        array.close();
        opened.close();
        array.unlink();
      }
    });
  }

  it('accepts Python typecodes, with l/L as 64-bit', () => {
    // Python's rule for its array typecodes: a lower-case integer code is
    // signed, its upper case unsigned, of the width below (l/L: shmkit's 64 bits).
    const intBits: Record<string, number> = { b: 8, h: 16, i: 32, l: 64, q: 64 };
    const expected: Array<[string, string]> = [
      ['f', 'float32'],
      ['d', 'float64'],
      ...Object.entries(intBits).flatMap(
        ([code, bits]): Array<[string, string]> => [
          [code, `int${bits}`],
          [code.toUpperCase(), `uint${bits}`],
        ],
      ),
    ];
    for (const [code, dtype] of expected) {
      const name = uniqueName('tc');
      const v = Value.create(name, code as 'i');
      expect(v.dtype).toBe(dtype);
      expect(v.value).toBe(dtype.endsWith('64') && dtype.includes('int') ? 0n : 0);
      v.close();
      v.unlink();
    }
    const n = Value.create(uniqueName('tc'), 'i', 7);
    expect(n.value).toBe(7);
    n.close();
    n.unlink();
  });

  it('rejects unknown dtypes and values that do not fit', () => {
    const name = uniqueName('bad');
    expectCode(() => Value.create(name, 'int128' as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.create(name, 'x' as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.create(name, 'int8', 128), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.create(name, 'uint32', -1), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.create(name, 'int32', 1.5), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.create(name, 'int64', 2n ** 63n), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.create(name, 'float64', 1n as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.create(name, 'float64', '1' as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => SharedArray.create(name, 'uint8', [1, 2, 256]), 'ERR_SHM_INVALID_ARG');
    expectCode(() => SharedArray.create(name, 'float64', -1), 'ERR_SHM_INVALID_SIZE');
    expectCode(() => SharedArray.create(name, 'float64', 1.5), 'ERR_SHM_INVALID_SIZE');
    expectCode(() => SharedArray.create(name, 'float64', 2 ** 51), 'ERR_SHM_INVALID_SIZE');
    expectCode(() => SharedArray.create(name, 'float64', null as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => SharedArray.create(name, 'float64', 'abc' as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => SharedArray.create(name, 'float64', {} as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.create('no/slash', 'int32'), 'ERR_SHM_INVALID_NAME');
    expectCode(() => Value.create(name, 'int32', 0, { mode: 0o7777 }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.open(name, { timeout: -1 }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Value.open(name), 'ENOENT'); // none of the failures above left a segment
  });
});

describe('Array', () => {
  it('initialises from a length, an iterable, or a typed array; SharedArray is the same class', () => {
    expect(Exported).toBe(SharedArray);
    const names = [uniqueName('a'), uniqueName('a'), uniqueName('a'), uniqueName('a')];
    const zero = SharedArray.create(names[0], 'int16', 5);
    const fromIterable = SharedArray.create(names[1], 'uint8', new Set([3, 1, 2]));
    const fromTyped = SharedArray.create(names[2], 'float32', new Float32Array([0.5, 1.5]));
    const empty = SharedArray.create(names[3], 'int64', 0);
    try {
      expect(Array.from(zero.array)).toEqual([0, 0, 0, 0, 0]);
      expect(zero.array).toBeInstanceOf(Int16Array);
      expect(Array.from(fromIterable.array)).toEqual([3, 1, 2]);
      expect(Array.from(fromTyped.array)).toEqual([0.5, 1.5]);
      expect(empty.length).toBe(0);
      expect(SharedArray.open(names[3]).array).toBeInstanceOf(BigInt64Array);
      expect(fromTyped.array.byteOffset % 64).toBe(0); // data aligned to 64 bytes
    } finally {
      for (const a of [zero, fromIterable, fromTyped, empty]) {
        a.close();
        a.unlink();
      }
    }
  });

  it('supports Atomics on integer dtypes across handles', () => {
    const name = uniqueName('at');
    const a = SharedArray.create(name, 'int32', 4);
    const b = SharedArray.open<'int32'>(name);
    Atomics.add(a.array as Int32Array, 2, 5);
    expect(Atomics.load(b.array, 2)).toBe(5);
    a.close();
    b.close();
    a.unlink();
  });

  it('close() neuters .array like SharedMemory.close(), and .value / .array throw ERR_SHM_CLOSED', () => {
    const name = uniqueName('cl');
    const a = SharedArray.create(name, 'float64', [1, 2, 3]);
    const view = a.array;
    const v = Value.create(uniqueName('cl'), 'int32', 3);
    a.close();
    a.close();
    v.close();
    expect(view.length).toBe(0);
    expect(() => view.fill(1)).toThrow(TypeError);
    expectCode(() => a.array, 'ERR_SHM_CLOSED');
    expectCode(() => v.value, 'ERR_SHM_CLOSED');
    expectCode(() => (v.value = 1), 'ERR_SHM_CLOSED');
    expectCode(() => a.lock, 'ERR_SHM_CLOSED');
    a.unlink();
    v.unlink();
  });
});

describe('segment format checks', () => {
  it('a raw SharedMemory is ERR_SHM_FORMAT at once when it has data, after the open timeout when it is all zero', () => {
    const name = uniqueName('raw');
    const raw = new SharedMemory({ name, create: true, size: 4096 });
    try {
      const t0 = Date.now();
      expectCode(() => SharedArray.open(name, { timeout: 30 }), 'ERR_SHM_FORMAT');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
      raw.buf.write('hello');
      expectCode(() => SharedArray.open(name), 'ERR_SHM_FORMAT');
      expectCode(() => Value.open(name), 'ERR_SHM_FORMAT');
    } finally {
      raw.close();
      raw.unlink();
    }
  });

  it('a segment smaller than a header is ERR_SHM_FORMAT', () => {
    const name = uniqueName('small');
    const raw = new SharedMemory({ name, create: true, size: 16 });
    expectCode(() => Value.open(name), 'ERR_SHM_FORMAT');
    raw.close();
    raw.unlink();
  });

  it('open(name, { dtype }) requires that dtype (a name or typecode) and refuses another', () => {
    const name = uniqueName('dt');
    const a = SharedArray.create(name, 'float64', [1.5]);
    const v = Value.create(uniqueName('dt'), 'int64', 7n);
    try {
      using same = SharedArray.open(name, { dtype: 'd' });
      expect(same.array[0]).toBe(1.5);
      expect(expectCode(() => SharedArray.open(name, { dtype: 'float32' }), 'ERR_SHM_FORMAT').message).toContain('holds float64, not float32');
      expectCode(() => SharedArray.open(name, { dtype: 'complex' as never }), 'ERR_SHM_INVALID_ARG');
      using value = Value.open(v.name, { dtype: 'q' });
      expect(value.value).toBe(7n);
      expectCode(() => Value.open(v.name, { dtype: 'uint64' }), 'ERR_SHM_FORMAT');
    } finally {
      for (const o of [a, v]) {
        o.close();
        o.unlink();
      }
    }
  });

  it('opening an Array as a Value (and back) is ERR_SHM_FORMAT', () => {
    const name = uniqueName('kind');
    const a = SharedArray.create(name, 'int32', 1);
    expect(expectCode(() => Value.open(name), 'ERR_SHM_FORMAT').message).toContain('is a shmkit Array, not a Value');
    a.close();
    a.unlink();
  });

  function tamper(edit: (view: DataView) => void): string {
    const name = uniqueName('tamper');
    SharedArray.create(name, 'float64', 16).close();
    const raw = new SharedMemory(name);
    edit(new DataView(raw.buffer));
    raw.close();
    return name;
  }

  it('a version from the future is rejected clearly (ERR_SHM_VERSION)', () => {
    const name = tamper((view) => view.setUint16(4, 6, true));
    expect(expectCode(() => SharedArray.open(name), 'ERR_SHM_VERSION').message).toMatch(/version 6.*upgrade shmkit/);
    SharedArray.unlink(name);
  });

  it('an older version (from before a format change) is ERR_SHM_VERSION too, without the upgrade hint', () => {
    const name = tamper((view) => view.setUint16(4, 4, true));
    expect(expectCode(() => SharedArray.open(name), 'ERR_SHM_VERSION').message).not.toMatch(/upgrade/);
    SharedArray.unlink(name);
  });

  it('a data_offset other than the one this version writes is ERR_SHM_FORMAT (data is never mapped at another offset)', () => {
    const name = tamper((view) => view.setUint32(12, 192, true));
    expectCode(() => SharedArray.open(name), 'ERR_SHM_FORMAT');
    SharedArray.unlink(name);
  });

  it('a header whose sizes disagree with the segment is ERR_SHM_FORMAT (never reads past the end)', () => {
    const tooMany = tamper((view) => {
      view.setBigUint64(16, 1_000_000n, true);
      view.setBigUint64(24, 8_000_000n, true);
    });
    expect(expectCode(() => SharedArray.open(tooMany), 'ERR_SHM_FORMAT').message).toMatch(/1000000 float64 elements/);
    const inconsistent = tamper((view) => view.setBigUint64(24, 7n, true));
    expectCode(() => SharedArray.open(inconsistent), 'ERR_SHM_FORMAT');
    const badDtype = tamper((view) => view.setUint8(7, 99));
    expectCode(() => SharedArray.open(badDtype), 'ERR_SHM_FORMAT');
    for (const name of [tooMany, inconsistent, badDtype]) SharedArray.unlink(name);
  });
});

describe('value.lock', () => {
  it('is re-entrant for its holder and excludes other handles, even in the same process', () => {
    const name = uniqueName('lk');
    const a = Value.create(name, 'int32');
    const b = Value.open(name);
    try {
      expect(a.lock.acquireSync()).toBe(true);
      expect(a.lock.acquireSync()).toBe(true); // re-entry
      expect(b.lock.locked()).toBe(true);
      expect(b.lock.tryAcquire()).toBe(false);
      expect(b.lock.acquireSync({ timeout: 20 })).toBe(false);
      expectCode(() => b.lock.release(), 'ERR_SHM_NOT_OWNER');
      a.lock.release();
      expect(b.lock.tryAcquire()).toBe(false); // still held once
      a.lock.release();
      expect(b.lock.tryAcquire()).toBe(true);
      expectCode(() => a.lock.release(), 'ERR_SHM_NOT_OWNER');
      b.lock.release();
      expect(a.lock.withLockSync(() => 42)).toBe(42);
      expect(a.lock.locked()).toBe(false);
      expect(() =>
        a.lock.withLockSync(() => {
          throw new Error('boom');
        }),
      ).toThrow('boom');
      expect(a.lock.locked()).toBe(false);
      expectCode(() => a.lock.acquireSync({ timeout: NaN }), 'ERR_SHM_INVALID_ARG');
    } finally {
      a.close();
      b.close();
      a.unlink();
    }
  });
});

describe('error messages', () => {
  it('describe any bad value without throwing themselves (bigint, null-prototype object, symbol)', () => {
    const name = uniqueName('msg');
    expect(expectCode(() => Value.create(name, 10n as never), 'ERR_SHM_INVALID_ARG').message).toMatch(/unknown dtype 10n/);
    expectCode(() => Value.create(name, 'int32', Object.create(null)), 'ERR_SHM_INVALID_ARG');
    expectCode(() => Semaphore.create(name, Object.create(null)), 'ERR_SHM_INVALID_ARG');
    expectCode(() => new SharedMemory({ name, create: true, size: Object.create(null) }), 'ERR_SHM_INVALID_SIZE');
    expectCode(() => new SharedMemory({ name: Symbol('s') as never }), 'ERR_SHM_INVALID_NAME');
    expectCode(() => SharedArray.create(name, 'int8', 10n as never), 'ERR_SHM_INVALID_ARG');
  });

  it('objects that only borrow a prototype (a fake AbortSignal or Int32Array) are ERR_SHM_INVALID_ARG', async () => {
    const name = uniqueName('fake');
    const event = Event.create(name);
    try {
      await expect(event.wait({ signal: Object.create(AbortSignal.prototype) })).rejects.toMatchObject({ code: 'ERR_SHM_INVALID_ARG' });
      expectCode(() => wait(Object.create(Int32Array.prototype), 0, 0, 1), 'ERR_SHM_INVALID_ARG');
    } finally {
      event.close();
      event.unlink();
    }
  });
});

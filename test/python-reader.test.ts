import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Lock, Array as SharedArray, SharedList, SharedMap, Value } from '../dist/index.js';
import { root, Scratch, start, startFixture, uniqueName } from './helpers.js';

const python = spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;
const reader = join(root, 'python', 'shmkit_reader.py');

async function readWithPython(name: string) {
  const run = await start('python3', [reader, name]).done;
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout);
}

// Linux machines (CI included) have python3: there a missing python fails the test.
describe.skipIf(!python && process.platform !== 'linux')('python/shmkit_reader.py (docs/format.md from Python)', () => {
  it('reads Arrays that Node wrote, for several dtypes', async () => {
    const cases = [
      { dtype: 'float64', values: [0.5, -1.25, 1e300, Infinity] },
      { dtype: 'int32', values: [-(2 ** 31), 0, 2 ** 31 - 1] },
      { dtype: 'uint8', values: [0, 7, 255] },
      { dtype: 'int64', values: [-(2n ** 63n), 2n ** 53n + 1n] },
    ] as const;
    for (const { dtype, values } of cases) {
      const name = uniqueName('pyr');
      const arr = SharedArray.create(name, dtype, values as never);
      try {
        const seen = await readWithPython(name);
        expect(seen.kind).toBe('Array');
        expect(seen.dtype).toBe(dtype);
        expect(seen.length).toBe(values.length);
        // shmkit_reader.py spells non-finite floats and integers past 2**53 as strings.
        const spelled = (v: number | bigint) =>
          typeof v === 'bigint' ? (v > 2n ** 53n || v < -(2n ** 53n) ? v.toString() : Number(v)) : Number.isFinite(v) ? v : String(v);
        expect(seen.values).toEqual(values.map(spelled));
      } finally {
        arr.close();
        arr.unlink();
      }
    }
  });

  it('reads a Value, and sees later writes', async () => {
    const name = uniqueName('pyv');
    const v = Value.create(name, 'd', 2.5);
    try {
      expect((await readWithPython(name)).values).toEqual([2.5]);
      v.value = -7.75;
      expect(await readWithPython(name)).toEqual({ kind: 'Value', dtype: 'float64', length: 1, values: [-7.75] });
    } finally {
      v.close();
      v.unlink();
    }
  });

  // A Python program that opens NAME with open_array (numpy or memoryview), adds 1 to every element, prints the sum.
  const bump = (useNumpy: boolean) =>
    [
      'import sys',
      `sys.path.insert(0, ${JSON.stringify(join(root, 'python'))})`,
      'from shmkit_reader import open_array',
      `a = open_array(sys.argv[1], use_numpy=${useNumpy ? 'True' : 'False'})`,
      'for i in range(len(a)): a[i] += 1',
      'print(type(a).__name__, sum(a))',
    ].join('\n');

  for (const useNumpy of [true, false]) {
    it(`open_array writes through to Node without a copy (${useNumpy ? 'numpy' : 'memoryview'}), and never unlinks what Node made`, async () => {
      const name = uniqueName('pyz');
      const arr = SharedArray.create(name, 'float64', [0.5, 1.5, 2.5]);
      const count = Value.create(uniqueName('pyz'), 'int64', 2n ** 60n);
      try {
        const run = await start('python3', ['-c', bump(useNumpy), name]).done;
        expect(run.stderr).toBe('');
        expect(run.stdout.trim()).toBe(`${useNumpy ? 'ndarray' : 'memoryview'} 7.5`);
        expect([...arr.array]).toEqual([1.5, 2.5, 3.5]); // written by Python, seen here
        const big = await start('python3', ['-c', bump(useNumpy), count.name]).done;
        expect(big.stderr).toBe('');
        expect(count.value).toBe(2n ** 60n + 1n); // int64 elements are exact
        // Python's resource tracker never saw the segments: they outlive the Python processes.
        expect(SharedArray.open(name).close()).toBeUndefined();
      } finally {
        for (const o of [arr, count]) {
          o.close();
          o.unlink();
        }
      }
    });
  }

  it('open_array refuses what is not a shmkit Array or Value', async () => {
    const lock = Lock.create(uniqueName('pyl'));
    try {
      const run = await start('python3', ['-c', `${bump(false)}`, lock.name]).done;
      expect(run.stderr).toMatch(/FormatError: .* is a shmkit object of kind 3, not an Array or Value/);
      const missing = await start('python3', ['-c', bump(false), uniqueName('none')]).done;
      expect(missing.stderr).toMatch(/FileNotFoundError/);
    } finally {
      lock.close();
      lock.unlink();
    }
  });

  const scratch = new Scratch();
  afterEach(() => scratch.cleanup());

  /** Runs `body` in Python with open_map imported and the names as sys.argv[1:]; its JSON output. */
  async function python3Map(body: string, ...names: string[]) {
    const script = [
      'import json, sys',
      `sys.path.insert(0, ${JSON.stringify(join(root, 'python'))})`,
      'from shmkit_reader import open_map, FormatError',
      body,
    ].join('\n');
    const run = await start('python3', ['-c', script, ...names]).done;
    expect(run.stderr).toBe('');
    return JSON.parse(run.stdout);
  }

  it('open_map reads a SharedMap and a SharedList that Node wrote, grown past their first size, as Python values', async () => {
    const map = scratch.add(SharedMap.create(uniqueName('pym'), { size: 64 * 1024 }));
    const plain = { id: 7, op: 'get', list: [1, 2.5, 'x', null, true, { deep: -3 }], big: 2 ** 40, neg: -200_000, text: 'é☃' };
    const values: Record<string, unknown> = { ascii: 'hello', utf8: 'héllo ☃', int: 42, float: 1.5, yes: true, no: false, nothing: null, plain };
    for (const [key, value] of Object.entries(values)) map.set(key, value);
    map.set('buffer', Buffer.from([1, 2, 255]));
    map.set('doubles', new Float64Array([1.5, -2]));
    map.set('v8only', new Map([[1, 2]]));
    map.set('expired', 'x', { ttl: 1 });
    for (let i = 0; i < 3000; i++) map.set(`k${i}`, `v${i}`); // the file grows while Python has not opened it yet
    const list = scratch.add(SharedList.create(uniqueName('pyl')));
    for (const item of ['a', 2, { b: [1] }]) list.push(item);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const seen = await python3Map(
      [
        'm = open_map(sys.argv[1])',
        'out = {k: m.get(k) for k in ' + JSON.stringify(Object.keys(values)) + '}',
        'out["buffer"] = list(m["buffer"]); out["doubles"] = list(m["doubles"])',
        'out["expired"] = m.get("expired", "absent"); out["k2999"] = m["k2999"]; out["has"] = ["k0" in m, "nope" in m]',
        'try:\n    m["v8only"]\nexcept FormatError as e:\n    out["v8only"] = str(e)',
        'out["keys"] = len(m.keys()); out["list"] = open_map(sys.argv[2]).to_list()',
        'print(json.dumps(out))',
      ].join('\n'),
      map.name,
      list.name,
    );
    expect(seen).toMatchObject({ ...values, buffer: [1, 2, 255], doubles: [1.5, -2], expired: 'absent', k2999: 'v2999', has: [true, false] });
    expect(seen.v8only).toMatch(/V8's serialization format/);
    expect(seen.keys).toBe(map.size - 1); // all but the expired entry
    expect(seen.list).toEqual(['a', 2, { b: [1] }]);
  });

  it('open_map reads while a Node process replaces the values: never a torn value', async () => {
    const map = scratch.add(SharedMap.create(uniqueName('pyh'), { size: 1 << 20 }));
    const writer = startFixture('map-peer.mjs', ['hammer-write', map.name, '4', '2500']);
    const seen = await python3Map(
      [
        'm = open_map(sys.argv[1]); reads = torn = 0',
        'import time; end = time.monotonic() + 2',
        'while time.monotonic() < end:',
        '    for k in range(4):',
        '        v = m.get("h%d" % k)',
        '        if v is None: continue',
        '        reads += 1',
        '        if v["key"] != "h%d" % k or v["pad"] != chr(97 + v["seq"] % 26) * 300: torn += 1',
        'print(json.dumps({"reads": reads, "torn": torn}))',
      ].join('\n'),
      map.name,
    );
    expect((await writer.done).stdout.trim()).toBe('written');
    expect(seen.reads).toBeGreaterThan(1000);
    expect(seen.torn).toBe(0);
  });
});

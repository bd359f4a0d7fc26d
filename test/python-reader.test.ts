import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Lock, Array as SharedArray, Value } from '../dist/index.js';
import { root, start, uniqueName } from './helpers.js';

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
});

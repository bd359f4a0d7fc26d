import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Array as SharedArray, Value } from '../dist/index.js';
import { root, start, uniqueName } from './helpers.js';

const python = spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;
const reader = join(root, 'examples', 'read_array.py');

async function readWithPython(name: string) {
  const run = await start('python3', [reader, name]).done;
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout);
}

// Linux machines (CI included) have python3: there a missing python fails the test.
describe.skipIf(!python && process.platform !== 'linux')('examples/read_array.py (docs/format.md from Python)', () => {
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
        // read_array.py spells non-finite floats and integers past 2**53 as strings.
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
});

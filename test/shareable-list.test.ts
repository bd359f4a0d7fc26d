// ShareableList in Python's exact layout, both ways against the system's
// python3 (separate processes), and its own API.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type ShareableItem, ShareableList, SharedMemory } from '../dist/index.js';
import { expectCode, Scratch, start, uniqueName } from './helpers.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const python = spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;

// Python's side: open (or create) the list, unregister it from the resource
// tracker (Python 3.8-3.12 would unlink it at exit), run BODY, print JSON of
// the items (bytes as {hex}, ints past 2**53 as {int: "..."}).
function py(body: string, ...args: string[]) {
  const program = [
    'import json, sys',
    'from multiprocessing import resource_tracker',
    'from multiprocessing.shared_memory import ShareableList',
    body,
    'resource_tracker.unregister(sl.shm._name, "shared_memory")',
    'def enc(v):',
    '    if isinstance(v, bytes): return {"hex": v.hex()}',
    '    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53: return {"int": str(v)}',
    '    return v',
    'print(json.dumps([enc(v) for v in sl]))',
    'sl.shm.close()',
  ].join('\n');
  return start('python3', ['-c', program, ...args]).done.then((run) => {
    expect(run.stderr).toBe('');
    return JSON.parse(run.stdout);
  });
}

const asPython = (v: ShareableItem) => (v instanceof Uint8Array ? { hex: Buffer.from(v).toString('hex') } : typeof v === 'bigint' ? { int: v.toString() } : v);

describe.skipIf(!python && process.platform !== 'linux')('ShareableList with Python', () => {
  it("a list made here reads in Python item for item, and Python's writes read here", async () => {
    const name = uniqueName('sl');
    const values: ShareableItem[] = [
      42,
      -(2n ** 63n),
      2n ** 63n - 1n,
      2 ** 53,
      -0.5,
      1e300,
      true,
      false,
      null,
      'plain',
      'héllo wörld ✓ 日本語', // multibyte: slots are sized by UTF-8 bytes, which Python reads right
      '',
      new Uint8Array([0, 1, 254, 255]),
      new Uint8Array(0),
    ];
    const list = scratch.add(ShareableList.create(name, values));
    expect([...list]).toEqual(values);
    expect(await py('sl = ShareableList(name=sys.argv[1])', name)).toEqual(values.map(asPython));
    await py("sl = ShareableList(name=sys.argv[1])\nsl[0] = 'xy'\nsl[4] = 7\nsl[8] = True\nsl[12] = b'\\x07'\nsl[10] = 'ünï'", name);
    expect([list.get(0), list.get(4), list.get(8), list.get(12), list.get(10)]).toEqual(['xy', 7, true, new Uint8Array([7]), 'ünï']);
  });

  it('a list made by Python opens here; what is set here reads in Python', async () => {
    const name = uniqueName('sl');
    scratch.add({ close() {}, unlink: () => SharedMemory.unlink(name) });
    const made = await py(`sl = ShareableList([7, 2.5, 'seven', b'\\x00\\x07', None, False, -2**63, 'x' * 17], name=sys.argv[1])`, name);
    expect(made).toEqual([7, 2.5, 'seven', { hex: '0007' }, null, false, { int: String(-(2n ** 63n)) }, 'x'.repeat(17)]);
    const list = scratch.add(ShareableList.open(name));
    expect(list.length).toBe(8);
    expect([...list]).toEqual([7, 2.5, 'seven', new Uint8Array([0, 7]), null, false, -(2n ** 63n), 'x'.repeat(17)]);
    list.set(0, 'eight'); // an int slot holds 8 bytes: a 5-byte string fits
    list.set(1, 3); // a float slot stays a float
    list.set(2, 'é'.repeat(4)); // 8 UTF-8 bytes in the slot of 'seven' (8 bytes)
    list.set(-1, 2n ** 62n);
    list.set(4, true);
    expect(await py('sl = ShareableList(name=sys.argv[1])', name)).toEqual([
      'eight',
      3,
      'é'.repeat(4),
      { hex: '0007' },
      true,
      false,
      { int: String(-(2n ** 63n)) },
      { int: String(2n ** 62n) },
    ]);
    expectCode(() => list.set(2, 'é'.repeat(5)), 'ERR_SHM_INVALID_ARG'); // 10 bytes do not fit
  });
});

describe('ShareableList', () => {
  it("count, index, negative indexes, and Python's rules for what fits", () => {
    const list = scratch.add(ShareableList.create(uniqueName('sl'), [1, 2n, 'a', 1, new Uint8Array([1]), Number.NaN, 'a\0\0']));
    expect([list.count(1), list.count(2), list.count('a'), list.count(new Uint8Array([1])), list.count(Number.NaN)]).toEqual([2, 1, 2, 1, 0]);
    expect([list.index(2), list.index('a'), list.get(-1)]).toEqual([1, 2, 'a']); // trailing NULs are lost, as in Python
    expectCode(() => list.index('zz'), 'ERR_SHM_INVALID_ARG');
    for (const bad of [7, -8, 1.5, '1']) expectCode(() => list.get(bad as never), 'ERR_SHM_INVALID_ARG');
    for (const bad of [2n ** 63n, {}, undefined, Symbol('s'), [1]]) expectCode(() => list.set(0, bad as never), 'ERR_SHM_INVALID_ARG');
    list.close();
    expectCode(() => list.get(0), 'ERR_SHM_CLOSED');
  });

  it('a create that fails leaves nothing; a segment that is not a list is ERR_SHM_FORMAT', () => {
    const name = uniqueName('sl');
    expectCode(() => ShareableList.create(name, [1, -(2n ** 64n)]), 'ERR_SHM_INVALID_ARG');
    expectCode(() => ShareableList.create(name, 42 as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => SharedMemory.unlink(name), 'ENOENT');
    const raw = new SharedMemory({ name, create: true, size: 64 });
    scratch.add({ close: () => raw.close(), unlink: () => raw.unlink() });
    new DataView(raw.buffer).setBigInt64(0, 1000n, true);
    expectCode(() => ShareableList.open(name), 'ERR_SHM_FORMAT');
    new DataView(raw.buffer).setBigInt64(0, 1n, true);
    new DataView(raw.buffer).setBigInt64(8, 24n, true); // Python 3.8's layout: a size where 3.9+ has offset 0
    expectCode(() => ShareableList.open(name), 'ERR_SHM_FORMAT');
  });
});

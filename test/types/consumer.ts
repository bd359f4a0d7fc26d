// A user's file, compiled by test/types.test.ts with `tsc --strict` against
// the built package: the types must say what the code does. Each
// `@ts-expect-error` is a misuse the types must refuse (tsc fails if one
// compiles).
import {
  ErrorCodes,
  Lock,
  Pipe,
  Pool,
  Queue,
  Scope,
  type ScopeCloseReport,
  ShareableList,
  Array as SharedArray,
  SharedMemory,
  ShmError,
  type ShmErrorCode,
  Value,
  WorkerDiedError,
} from 'shmkit';
import type * as Tasks from './tasks.js';

interface Job {
  id: number;
  payload: string;
}

export async function queues(): Promise<number> {
  using q = Queue.create<Job>('consumer-jobs');
  await q.put({ id: 1, payload: 'x' });
  // @ts-expect-error a Queue<Job> carries Jobs
  await q.put(42);
  const job: Job = await q.get();
  const again: Job = q.getSync({ timeout: 0 });
  for await (const next of q) return next.id + job.id + again.id;
  return 0;
}

export async function pipes(): Promise<string> {
  using pipe = Pipe.open<string>('consumer-pipe');
  pipe.sendSync('hello');
  // @ts-expect-error a Pipe<string> carries strings
  pipe.sendSync({ not: 'a string' });
  const text: string = await pipe.recv();
  return text.toUpperCase();
}

export function arrays(): number {
  using created = SharedArray.create('consumer-a', 'd', 4);
  const floats: Float64Array = created.array;
  using opened = SharedArray.open('consumer-a', { dtype: 'float64' });
  const same: Float64Array = opened.array;
  using big = SharedArray.open('consumer-b', { dtype: 'int64' });
  const bigs: BigInt64Array = big.array;
  // @ts-expect-error an int64 Array holds bigints
  big.array[0] = 1;
  using unknownDtype = SharedArray.open('consumer-c');
  // @ts-expect-error without a dtype the element type is not known to be number
  const n: number = unknownDtype.array[0];
  using v = Value.open('consumer-v', { dtype: 'uint64' });
  const u: bigint = v.value;
  return floats[0] + same[0] + Number(bigs[0]) + Number(u) + n;
}

export function errors(err: unknown): string {
  if (!(err instanceof ShmError)) return 'other';
  const code: ShmErrorCode = err.code;
  switch (code) {
    case ErrorCodes.CLOSED:
    case 'ENOENT':
      return code;
    // @ts-expect-error not a code shmkit can throw
    case 'ERR_SHM_NO_SUCH_CODE':
      return 'impossible';
    default:
      return err.message;
  }
}

export async function pools(): Promise<number> {
  await using pool = new Pool<typeof Tasks>(new URL('./tasks.js', import.meta.url), { processes: 2 });
  const sum: number = await pool.apply('add', [1, 2]);
  const greeting: string = await pool.submit('greet', 'you');
  const limited: number = await pool.submit('add', 1, 2, Pool.options({ timeout: 1000, signal: AbortSignal.timeout(2000) }));
  await pool.apply('add', [1, 2], { timeout: 1000 });
  await pool.map('greet', ['a'], { timeout: 1000, chunksize: 1 });
  // @ts-expect-error add takes numbers, options or not
  await pool.submit('add', '1', 2, Pool.options({ timeout: 1000 }));
  // @ts-expect-error a timeout is a number of milliseconds
  await pool.submit('add', 1, 2, Pool.options({ timeout: '1s' }));
  const squares: number[] = await pool.starmap('add', [
    [1, 2],
    [3, 4],
  ]);
  const greetings: string[] = await pool.map('greet', ['a', 'b']);
  for await (const each of pool.imapUnordered('greet', ['c'])) greetings.push(each);
  // @ts-expect-error add takes numbers
  await pool.apply('add', ['1', 2]);
  // @ts-expect-error not an exported function
  await pool.apply('version', []);
  // @ts-expect-error no such export
  await pool.submit('missing');
  const untyped = new Pool('./tasks.js');
  const anything: unknown = await untyped.apply('whatever', [1, 'two']);
  await untyped.close();
  try {
    await pool.submit('add', 1, 2);
  } catch (err) {
    if (err instanceof WorkerDiedError) return err.exitCode ?? -1;
  }
  return sum + limited + squares.length + greeting.length + greetings.length + (anything === undefined ? 0 : 1);
}

export async function lifetimes(): Promise<number> {
  await using outer = new Scope();
  using scope = new Scope({ force: false, closeHandles: true });
  const q = Queue.openOrCreate<Job>('consumer-q', { capacity: 4096, scope, unlinkOnExit: true, timeout: 100 });
  const job: Job = q.getSync();
  const v = Value.openOrCreate('consumer-v2', 'float64', 1.5, { unlinkOnExit: true });
  const x: number = v.value;
  const arr = SharedArray.openOrCreate('consumer-a2', 'int64', 3, { scope: outer });
  const bigs: BigInt64Array = arr.array;
  const lock = outer.add(Lock.open('consumer-l'));
  const report: ScopeCloseReport = scope.close({ closeHandles: false });
  const names: string[] = [...report.removed, ...report.kept.map((k) => `${k.name}: ${k.reason}`)];
  const shm = SharedMemory.openOrCreate({ name: 'consumer-shm', size: 64, unlinkOnExit: true });
  const list = ShareableList.openOrCreate('consumer-sl', [1, 'a'], { scope });
  ShareableList.unlink('consumer-sl');
  // @ts-expect-error unlinkOnExit is a boolean
  Lock.create('consumer-l2', { unlinkOnExit: 'yes' });
  // @ts-expect-error an Array's openOrCreate needs its length or values, as create does
  SharedArray.openOrCreate('consumer-a3', 'int32');
  // @ts-expect-error a scope is a Scope
  Value.create('consumer-v3', 'int32', 0, { scope: {} });
  return job.id + x + Number(bigs[0]) + names.length + shm.size + list.length + (lock.locked() ? 1 : 0);
}

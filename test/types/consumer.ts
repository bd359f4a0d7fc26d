// A user's file, compiled by test/types.test.ts with `tsc --strict` against
// the built package: the types must say what the code does. Each
// `@ts-expect-error` is a misuse the types must refuse (tsc fails if one
// compiles).
import { ErrorCodes, Pipe, Queue, Array as SharedArray, ShmError, type ShmErrorCode, Value } from 'shmkit';

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

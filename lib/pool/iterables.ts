// Reading the iterables of map, starmap, imap and imapUnordered: sync or
// async alike, whole (map, starmap) or a chunk at a time as the call asks
// for more (imap, imapUnordered: the iterable may be endless).
import { describeValue, invalidArg } from '../core/errors.js';
import { checkLimits, type Limits } from './limits.js';

/** All items of a sync or async iterable; the call's limits are checked between items. */
export async function collect(iterable: unknown, limits: Limits | undefined): Promise<unknown[]> {
  if (Array.isArray(iterable)) return iterable;
  const items: unknown[] = [];
  for await (const item of checkIterable(iterable)) {
    if (limits !== undefined) checkLimits(limits);
    items.push(item);
  }
  return items;
}

/** Arrays of `size` items from a sync or async iterable, read only as they are asked for. */
export async function* chunks(iterable: unknown, size: number): AsyncGenerator<unknown[], void, undefined> {
  let chunk: unknown[] = [];
  for await (const item of checkIterable(iterable)) {
    chunk.push(item);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

function checkIterable(value: unknown): Iterable<unknown> | AsyncIterable<unknown> {
  if (!isIterable(value)) throw invalidArg(`iterable must be iterable (sync or async), got ${describeValue(value)}`);
  return value;
}

function isIterable(value: unknown): value is Iterable<unknown> | AsyncIterable<unknown> {
  if (value === null || value === undefined) return false;
  const v = value as Record<symbol, unknown>;
  return typeof v[Symbol.iterator] === 'function' || typeof v[Symbol.asyncIterator] === 'function';
}

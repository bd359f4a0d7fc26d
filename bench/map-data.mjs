// What the SharedMap benchmarks store, shared by bench/map.mjs, its worker
// processes and the cluster HTTP benchmark; and where SharedMap comes from.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The ~100-byte object value: 125 bytes as JSON for a 4-digit id, 101 in lmdb's msgpack. */
export const makeObject = (i) => ({
  id: i,
  user: `ada${i}`,
  roles: ['reader', 'editor'],
  active: true,
  score: 87.5,
  meta: { region: 'eu-west', tier: 'gold' },
});

/** The short string value. */
export const makeString = (i) => `session-${i}-ok`;

export const objectKey = (i) => `obj:${i}`;
export const stringKey = (i) => `str:${i}`;

/** A fixed sequence of `count` random indices below `below` (xorshift32; the same in every run). */
export function randomOrder(count, below, seed = 2463534242) {
  const order = new Uint32Array(count);
  let x = seed >>> 0;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    order[i] = x % below;
  }
  return order;
}

/**
 * The module SharedMap is taken from: 'shmkit' (this package's dist/), or
 * MAP_BENCH_MODULE (a package name or a file path) to measure another build.
 */
export function sharedMapModule() {
  const spec = process.env.MAP_BENCH_MODULE || 'shmkit';
  return spec.startsWith('.') || isAbsolute(spec) ? pathToFileURL(resolve(spec)).href : spec;
}

/** The SharedMap class, or undefined while the build does not export one. */
export async function loadSharedMap(spec = sharedMapModule()) {
  const mod = await import(spec);
  return typeof mod.SharedMap === 'function' ? mod.SharedMap : undefined;
}

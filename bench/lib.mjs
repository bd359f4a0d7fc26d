// Small helpers shared by the benchmarks: medians over several rounds,
// interleaved so that machine noise hits every contestant alike.
import os from 'node:os';

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function stats(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length };
}

/** Runs each contestant `rounds` times, interleaved; returns ns-per-op samples per contestant. */
export function interleave(contestants, rounds, opsPerRun) {
  const samples = Object.fromEntries(Object.keys(contestants).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of Object.entries(contestants)) {
      const t0 = process.hrtime.bigint();
      run();
      samples[name].push(Number(process.hrtime.bigint() - t0) / opsPerRun);
    }
  }
  return samples;
}

export function machine() {
  return `${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}, ${process.platform}-${process.arch}, Node ${process.version}`;
}

export function fmt(ns) {
  return ns < 1 ? `${ns.toFixed(3)} ns` : ns < 1000 ? `${ns.toFixed(1)} ns` : `${(ns / 1000).toFixed(2)} us`;
}

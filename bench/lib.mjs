// Small helpers shared by the benchmarks: medians over several rounds,
// interleaved so that machine noise hits every contestant alike.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pipe, Queue } from 'shmkit';

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The p-th percentile (nearest rank) of `values`. */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Median us of `n` round trips, each after an idle gap of `gapMs` (0: back to back). */
export async function roundTrips(n, gapMs, roundTrip) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    if (gapMs) await sleep(gapMs);
    const t0 = performance.now();
    await roundTrip();
    samples.push((performance.now() - t0) * 1000);
  }
  return median(samples);
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

const peerScript = join(dirname(fileURLToPath(import.meta.url)), 'channel-peer.mjs');

/** A fresh name for a benchmark's objects. */
export const uid = (prefix = 'bench') => `${prefix}_${randomBytes(4).toString('hex')}`;

/** Starts bench/channel-peer.mjs in MODE (a separate node process). */
export function spawnPeer(args, env = {}) {
  return spawn(process.execPath, [peerScript, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env } });
}

/** Resolves once `child` has exited; a child a signal ended has exitCode null and signalCode set. */
export const exited = (child) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit'));

/** Runs `body(socket)` with a Unix domain socket connected to a channel peer in `peerMode`. */
export async function withSocket(peerMode, extra, body) {
  const path = join(os.tmpdir(), `${uid()}.sock`);
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const child = spawnPeer([peerMode, path, ...extra]);
  const [socket] = await once(server, 'connection');
  socket.setNoDelay(true);
  try {
    return await body(socket);
  } finally {
    socket.destroy();
    server.close();
    child.kill();
    await exited(child);
  }
}

/** One round trip of `bytes` through an echoing socket peer. */
export function socketRoundTrip(socket, bytes) {
  return new Promise((resolve) => {
    let got = 0;
    const onData = (d) => {
      got += d.length;
      if (got >= bytes.length) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.write(bytes);
  });
}

/**
 * Runs `body(pipe)` with a Pipe whose other end is a peer process
 * (bench/channel-peer.mjs `mode`, given the pipe's name and `extra`), once
 * the peer says it is ready; then closes the pipe and waits for the peer.
 */
export async function withPeerPipe(mode, { capacity, extra = [], env = {}, prefix = 'bench' }, body) {
  const name = uid(prefix);
  const pipe = Pipe.create(name, { capacity });
  const child = spawnPeer([mode, name, ...extra], env);
  try {
    await pipe.recv(); // "ready"
    return await body(pipe);
  } finally {
    pipe.close();
    await exited(child);
    pipe.unlink();
  }
}

/**
 * Runs `body(toPeer, fromPeer)` with two Queues and a peer process
 * (bench/channel-peer.mjs `mode`) that takes from the first and puts into
 * the second, once it says it is ready; then tells it to stop.
 */
export async function withPeerQueues(mode, { capacity, extra = [], prefix = 'bench' }, body) {
  const [toPeer, fromPeer] = [uid(prefix), uid(prefix)].map((name) => Queue.create(name, { capacity }));
  const child = spawnPeer([mode, toPeer.name, fromPeer.name, ...extra]);
  try {
    await fromPeer.get(); // "ready"
    return await body(toPeer, fromPeer);
  } finally {
    await toPeer.put('STOP');
    await exited(child);
    for (const queue of [toPeer, fromPeer]) {
      queue.close();
      queue.unlink();
    }
  }
}

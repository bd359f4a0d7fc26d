// Loads the addon: a matching prebuild from prebuilds/, else build/Release.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeError } from './errors.js';
import type { WaitEnd } from './layout.js';

/**
 * The addon's functions. Arguments arrive validated from lib/; see native/.
 * Any of them may throw, and what it throws is a ShmError (native/core/errors.h):
 * a failed system call's errno name as its code (with `errno` and
 * `syscall`), or the documented ERR_SHM_* code of a misuse only the addon
 * can see (ERR_SHM_CLOSED, ERR_SHM_FORMAT, ERR_SHM_INVALID_ARG,
 * ERR_SHM_MESSAGE_TOO_LARGE), or ERR_SHM_NATIVE for what should not happen.
 * The Promises of the async waits reject the same way.
 */
export interface NativeAddon {
  /** Sets what builds every error the addon throws (native/core/errors.h): called once, at load. */
  setErrorFactory(factory: (errno: number | undefined, syscall: string | undefined, message: string, code: string | undefined) => Error): void;
  shmOpen(name: string, create: boolean, exclusive: boolean, mode: number): number;
  fchmod(fd: number, mode: number): void;
  allocate(fd: number, size: number): void;
  fstatSize(fd: number): number;
  /** The constants of native/core/layout.h as this addon was built with them (lib/core/layout.ts has the same). */
  layoutValues(): Record<string, Record<string, number | string>>;
  /** "dev:ino" of the open file, or '' where it has no inode. */
  fileId(fd: number): string;
  closeFd(fd: number): void;
  shmUnlink(name: string): void;
  map(fd: number, size: number): [ArrayBuffer, MappingHandle];
  unmap(handle: MappingHandle, buffer: ArrayBuffer): void;
  view(handle: MappingHandle, offset: number, length: number): ArrayBuffer;
  detach(buffer: ArrayBuffer): void;
  populate(handle: MappingHandle, offset: number, length: number): void;
  /** Maps the pages of a fresh Uint8Array now (one system call instead of a fault per page). */
  populateBytes(bytes: Uint8Array): void;
  // A channel's ring (native/channel/ring.cc, over frame_ring.*): `out` receives what a call reports beside its result.
  ringOpen(handle: MappingHandle, byteOffset: number, out: Int32Array): RingHandle;
  /** 1 written, 0 no room now, -1 never fits. */
  ringWriteString(ring: RingHandle, text: string): number;
  ringWriteBytes(ring: RingHandle, bytes: Uint8Array, tag: number): boolean;
  ringReserve(ring: RingHandle, payloadBytes: number): number;
  ringPublish(ring: RingHandle, at: number, payloadBytes: number, tag: number): void;
  ringPeek(ring: RingHandle): boolean;
  ringRelease(ring: RingHandle, position: number, length: number): void;
  ringHold(ring: RingHandle, token: number): number;
  ringAdopt(ring: RingHandle, entry: number, deadToken: number, token: number): boolean;
  ringUnhold(ring: RingHandle, entry: number, token: number): boolean;
  /** A string or typed-array message made by the addon; a number: another kind's length, left in the ring (its frame in out). */
  ringRead(ring: RingHandle): unknown;
  ringReadInto(ring: RingHandle, target: Uint8Array, bytesOnly: boolean): number;
  // A Pipe end's per-message calls (native/channel/pipe_end.cc), each with the peer check.
  pipeEndOpen(
    handle: MappingHandle,
    controlOffset: number,
    out: RingHandle,
    inbound: RingHandle,
    readSpinner: Int32Array,
    end: number,
    liveness: number,
    name: string,
  ): PipeEndHandle;
  /** The other end closed, or its process died (liveness asked at most every 5 ms). */
  pipePeerGone(end: PipeEndHandle, fresh?: boolean): boolean;
  /**
   * True if `message` is sent now: a string, Buffer or typed array as it is
   * (`tag` -1), or bytes lib/ encoded, with their tag. false sends nothing
   * (the general path encodes it, says why, or waits).
   */
  pipeSend(end: PipeEndHandle, message: unknown, tag: number): boolean;
  /** 1 if a receive would not wait, 0 if it would, -1 for the general path (closed, or liveness unknown). */
  pipePoll(end: PipeEndHandle): number;
  /**
   * A receive's first try: ringRead of the inbound ring with the spin its
   * spinner allows, recorded on it, and at most `maxSpinMs` (what is left of
   * the receive's timeout); undefined also when this end is closed (the
   * general path throws). With `doorbell` (whether this event loop has
   * one) it is an async receive's: the doorbell sites' rule, and a spin that
   * caught nothing is recorded too.
   */
  pipeRecv(end: PipeEndHandle, maxSpinMs?: number, doorbell?: boolean): unknown;
  // A Queue handle's per-message calls (native/channel/queue.cc), each with the put or get lock taken and given back.
  queueOpen(ring: RingHandle, readSpinner: Int32Array, token: number): QueueHandle;
  /** As pipeSend, with the put lock taken and given back (false also if it is taken). */
  queuePut(queue: QueueHandle, message: unknown, tag: number): boolean;
  /**
   * A get's first try, as pipeRecv's, with the get lock taken for it. A
   * number (a message the addon did not make, left in the ring) comes
   * with the get lock still taken: the caller gives it back. undefined also
   * when no read was made (closed, the lock taken, views held).
   */
  queueGet(queue: QueueHandle, maxSpinMs?: number, doorbell?: boolean): unknown;
  // The adaptive spinning rule (native/wait/spinner.cc) over a Spinner's three counters.
  spinBudget(state: Int32Array, doorbell: boolean): number;
  spinWaited(state: Int32Array, ms: number): void;
  spinSpun(state: Int32Array, caught: boolean): void;
  /** Spins while array[index] === expected, for about `ms`: true if it changed. */
  spin(array: Int32Array, index: number, expected: number, ms: number): boolean;
  wait(array: Int32Array, index: number, expected: number, timeoutMs: number): WaitResult;
  waitAsync(array: Int32Array, index: number, expected: number, timeoutMs: number, bell: boolean): PendingWait<AsyncWaitResult>;
  notify(array: Int32Array, index: number, count: number, bell?: number): number;
  doorbellId(): number;
  /** Rings this environment's doorbell has taken (for tests). */
  doorbellRings(): number;
  /** Removes doorbell files whose process died (native/wait/doorbell.h). */
  sweepDoorbells(): void;
  cancelWait(id: number): void;
  waitBackend(): 'io_uring' | 'thread';
  livenessAcquire(fd: number, token: number, name: string): number;
  livenessAlive(id: number, token: number, name: string): boolean;
  livenessRelease(id: number): void;
  /**
   * Locks every token's byte of the file at once but those of `except` (shmkit gc, a Scope; held until `fd` closes):
   * false if a handle holds its token. Linux only.
   */
  livenessExclude(fd: number, except?: number[]): boolean;
  semOpen(name: string, create: boolean, exclusive: boolean, mode: number, value: number): number;
  semClose(id: number): void;
  semWait(id: number, timeoutMs: number): typeof WaitEnd.ok | typeof WaitEnd.timedOut;
  semWaitAsync(id: number, timeoutMs: number): PendingWait<AsyncWaitResult>;
  semTryWait(id: number): boolean;
  semPost(id: number, n: number): void;
  semGetValue(id: number): number;
  semUnlink(name: string): void;
  /** SIGKILL this process when its parent dies (Linux); false where the platform cannot. */
  exitWithParent(): boolean;
  // What SIGINT/SIGTERM/SIGHUP did before lib/core/lifetime.ts listened (native/sys/exit_signals.cc).
  /** False if the signal is ignored now; with `keep`, its disposition is kept for signalRestore. */
  signalSave(signum: number, keep: boolean): boolean;
  /** Latches the signal in front of the handler installed now (libuv's, for the JS listeners). */
  signalLatch(signum: number): void;
  /** Bit n: signal n came since the last call (cleared). */
  signalPending(): number;
  /** Puts back the disposition signalSave kept. */
  signalRestore(signum: number): void;
}

/** How a wait ended (native/core/layout.h WaitEnd). */
export type WaitResult = typeof WaitEnd.ok | typeof WaitEnd.notEqual | typeof WaitEnd.timedOut;
/** How an async wait ends: also cancelled (cancelWait) or closed (its memory or semaphore was closed). */
export type AsyncWaitResult = WaitResult | typeof WaitEnd.cancelled | typeof WaitEnd.closed;

/** A wait pending in the addon's wait engine: its Promise and the id that cancels it. */
export type PendingWait<T> = [Promise<T>, number];

/** Opaque native handle of one channel ring. */
export type RingHandle = { readonly __ring: unique symbol };

/** Opaque native handle of one Pipe end. */
export type PipeEndHandle = { readonly __pipeEnd: unique symbol };

/** Opaque native handle of a Queue handle's per-message calls. */
export type QueueHandle = { readonly __queue: unique symbol };

/** Opaque native handle of one mapping. */
export type MappingHandle = { readonly __mapping: unique symbol };

const require = createRequire(import.meta.url);
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const native: NativeAddon = require('node-gyp-build')(packageRoot);
// From here on every error the addon throws is a ShmError (native/core/errors.h).
native.setErrorFactory(nativeError);

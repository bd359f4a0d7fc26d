/**
 * shmkit: shared memory and synchronization between Node.js processes on one
 * host. See README.md and docs/.
 */

// Registers how each class opens again when a message carries its handle (lib/openers.ts).
import './openers.js';

export { Pipe, type PipeCreateOptions } from './channel/pipe.js';
export { Empty, Full, Queue, type QueueCreateOptions } from './channel/queue.js';
export { MessageView, Slot } from './channel/zero-copy.js';
export { currentProcess, type ProcessInfo, parentProcess } from './core/current.js';
export type { DType, DTypeOf, ElementOf, SharedTypedArray, TypeCode, TypedArrayOf } from './core/dtypes.js';
export { ErrorCodes, ShmError, type ShmErrorCode, type SystemErrorCode } from './core/errors.js';
export { MAX_SEM_NAME_LENGTH, MAX_SHM_NAME_LENGTH, PORTABLE_NAME_LENGTH } from './core/names.js';
export type { CreateOptions, LifetimeOptions, OpenOptions, OpenOrCreateOptions, TypedOpenOptions } from './core/options.js';
export { Scope, type ScopeCloseReport, type ScopeOptions } from './core/scope.js';
export { keep } from './core/transfer.js';
export { SharedList, type SharedListOptions } from './map/shared-list.js';
export { type MapEntry, type MapStats, type SetOptions, SharedMap, type SharedMapOptions } from './map/shared-map.js';
export { SharedArray, SharedArray as Array } from './memory/array.js';
export { type ShareableItem, ShareableList, type ShareableListOptions } from './memory/shareable-list.js';
export { SharedMemory, type SharedMemoryOpenOrCreateOptions, type SharedMemoryOptions } from './memory/shared-memory.js';
export { Value } from './memory/value.js';
export {
  type CallOptions,
  type MapOptions,
  Pool,
  type PoolOptions,
  type SubmitArgs,
  type SubmitOptions,
  type TaskArgs,
  type TaskName,
  type TaskResult,
  WorkerDiedError,
} from './pool/pool.js';
export { type JoinOptions, Process, type ProcessExit, type ProcessOptions } from './process/process.js';
export { Barrier } from './sync/barrier.js';
export { BoundedSemaphore } from './sync/bounded-semaphore.js';
export { Condition } from './sync/condition.js';
export { Event } from './sync/event.js';
export { Lock, type LockGuard, RLock } from './sync/lock.js';
export { notify, wait, waitAsync } from './sync/notify.js';
export { Semaphore, type SemaphoreCreateOptions } from './sync/semaphore.js';
export type { WaitOptions } from './sync/waiting.js';

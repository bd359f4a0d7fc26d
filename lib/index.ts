/**
 * shmkit: shared memory and synchronization between Node.js processes on one
 * host. See README.md and docs/.
 */
export { SharedMemory, type SharedMemoryOptions } from './memory/shared-memory.js';
export { Value } from './memory/value.js';
export { SharedArray, SharedArray as Array } from './memory/array.js';
export { Lock, RLock, type LockGuard } from './sync/lock.js';
export type { CreateOptions, OpenOptions } from './core/options.js';
export { wait, waitAsync, notify } from './sync/notify.js';
export type { WaitOptions } from './sync/waiting.js';
export { Semaphore, BoundedSemaphore, type SemaphoreCreateOptions } from './sync/semaphore.js';
export { Event } from './sync/event.js';
export { Condition } from './sync/condition.js';
export { Barrier } from './sync/barrier.js';
export type { DType, TypeCode, DTypeOf, ElementOf, TypedArrayOf, SharedTypedArray } from './core/dtypes.js';
export { ShmError, ErrorCodes, type ShmErrorCode } from './core/errors.js';
export { MAX_SHM_NAME_LENGTH, MAX_SEM_NAME_LENGTH, PORTABLE_NAME_LENGTH } from './core/names.js';
export { Queue, Full, Empty, type QueueCreateOptions } from './channel/queue.js';
export { Pipe, type PipeCreateOptions } from './channel/pipe.js';

/**
 * shmkit: shared memory and synchronization between Node.js processes on one
 * host. See README.md and docs/.
 */
export { SharedMemory, type SharedMemoryOptions } from './shared-memory.js';
export { Value } from './value.js';
export { SharedArray, SharedArray as Array } from './array.js';
export { Lock, RLock, type AcquireOptions, type LockGuard } from './lock.js';
export type { CreateOptions, OpenOptions } from './typed-args.js';
export { wait, waitAsync, notify, type WaitOptions } from './wait.js';
export { Semaphore, BoundedSemaphore, type SemaphoreCreateOptions } from './semaphore.js';
export { Event } from './event.js';
export { Condition } from './condition.js';
export { Barrier } from './barrier.js';
export type { SyncWaitOptions } from './sync-object.js';
export type { DType, TypeCode, DTypeOf, ElementOf, TypedArrayOf, SharedTypedArray } from './dtypes.js';
export { ShmError, ErrorCodes, type ShmErrorCode } from './errors.js';
export { MAX_SHM_NAME_LENGTH, MAX_SEM_NAME_LENGTH, PORTABLE_NAME_LENGTH } from './names.js';
export { Queue, Full, Empty, type QueueCreateOptions, type QueueWaitOptions } from './queue.js';
export { Pipe, type PipeCreateOptions } from './pipe.js';

/**
 * shmkit: shared memory and synchronization between Node.js processes on one
 * host. See README.md and docs/.
 */
export { SharedMemory, type SharedMemoryOptions } from './shared-memory.js';
export { ShmError, ErrorCodes, type ShmErrorCode } from './errors.js';
export { MAX_SHM_NAME_LENGTH, MAX_SEM_NAME_LENGTH, PORTABLE_NAME_LENGTH } from './names.js';

// The addon throws the library's own ShmError (native/core/errors.h): lib/core
// hands it the factory at load, so a failed system call, a misuse only the
// addon can see reach the caller as ShmErrors with no wrapper in between.
import { describe, expect, it } from 'vitest';
import { ShmError } from '../dist/core/errors.js';
import { native } from '../dist/core/native.js';
import { Semaphore } from '../dist/index.js';
import { uniqueName } from './helpers.js';

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('errors the addon throws', () => {
  it('a failed system call is a ShmError named by its errno, negative as in fs', () => {
    const err = thrown(() => native.shmOpen(`/${uniqueName('nerr')}`, false, false, 0)) as ShmError;
    expect(err).toBeInstanceOf(ShmError);
    expect([err.code, err.errno, err.syscall]).toEqual(['ENOENT', -2, 'shm_open']);
    expect(err.message).toMatch(/^ENOENT: shm_open failed: No such file or directory/);
  });

  it('a misuse only the addon sees is a ShmError with its documented code', () => {
    const err = thrown(() => native.signalRestore(100_000)) as ShmError;
    expect(err).toBeInstanceOf(ShmError);
    expect(err.code).toBe('ERR_SHM_NATIVE');
  });

  it("a public call adds what it was doing to the addon's ShmError once", () => {
    const name = uniqueName('nerrs');
    const err = thrown(() => Semaphore.unlink(name)) as ShmError;
    expect(err).toBeInstanceOf(ShmError);
    expect(err.code).toBe('ENOENT');
    expect(err.message).toBe(`ENOENT: sem_unlink failed: No such file or directory (unlinking semaphore ${name})`);
  });
});

import { constants } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { Array as SharedArray, SharedMemory } from '../dist/index.js';
import { expectCode, uniqueName } from './helpers.js';

const onLinux = process.platform === 'linux';

describe('SharedMemory', () => {
  it('creates, attaches by name or /name, and shares bytes zero-copy', () => {
    const name = uniqueName();
    const a = new SharedMemory({ name, create: true, size: 64 });
    const b = new SharedMemory({ name: `/${name}` });
    const c = new SharedMemory(name);
    try {
      expect([a.name, b.name, c.name]).toEqual([name, name, name]);
      expect([a.size, b.size, c.size]).toEqual([64, 64, 64]);
      new Float64Array(a.buffer)[1] = 2.5;
      expect(new Float64Array(b.buffer)[1]).toBe(2.5);
      c.buf.write('hi', 0);
      expect(a.buf.toString('utf8', 0, 2)).toBe('hi');
      expect(a.buf.buffer).toBe(a.buffer);
      expect(new Uint8Array(a.buffer)[3]).toBe(0); // fresh segments are zeroed
    } finally {
      for (const s of [a, b, c]) s.close();
      a.unlink();
    }
  });

  it('picks a random name when none is given', () => {
    for (const name of [undefined, null]) {
      const shm = new SharedMemory({ name, create: true, size: 8 });
      expect(shm.name).toMatch(/^shmkit_[0-9a-f]{16}$/);
      expect(shm.name.length).toBeLessThanOrEqual(30);
      shm.close();
      SharedMemory.unlink(shm.name);
    }
  });

  it.runIf(onLinux)('creates with mode 0600 by default, and exactly the mode asked for whatever the umask', () => {
    const name = uniqueName();
    const shared = uniqueName();
    const old = process.umask(0o077);
    try {
      const a = new SharedMemory({ name, create: true, size: 8 });
      const b = new SharedMemory({ name: shared, create: true, size: 8, mode: 0o644 });
      expect(statSync(`/dev/shm/${name}`).mode & 0o777).toBe(0o600);
      expect(statSync(`/dev/shm/${shared}`).mode & 0o777).toBe(0o644);
      for (const s of [a, b]) {
        s.close();
        s.unlink();
      }
    } finally {
      process.umask(old);
    }
  });

  it('close is idempotent, does not unlink, and `using` closes', () => {
    const name = uniqueName();
    let outer: SharedMemory;
    {
      using shm = new SharedMemory({ name, create: true, size: 16 });
      outer = shm;
      expect(shm.closed).toBe(false);
    }
    expect(outer.closed).toBe(true);
    outer.close();
    const again = new SharedMemory(name); // still there: nothing unlinks implicitly
    again.close();
    SharedMemory.unlink(name);
    expectCode(() => new SharedMemory(name), 'ENOENT');
  });

  it('unlink() works after close() and reports ENOENT the second time', () => {
    const shm = new SharedMemory({ name: uniqueName(), create: true, size: 16 });
    shm.close();
    shm.unlink();
    const err = expectCode(() => shm.unlink(), 'ENOENT');
    expect(err.errno).toBe(-osConstants.errno.ENOENT); // negative, as Node's fs gives it
    expect(err.syscall).toBe('shm_unlink');
  });
});

describe('SharedMemory errors', () => {
  it('ENOENT for a missing name, EEXIST for an existing one', () => {
    const name = uniqueName();
    const missing = expectCode(() => new SharedMemory({ name }), 'ENOENT');
    expect(missing.syscall).toBe('shm_open');
    expect(missing.message).toContain(name);
    const shm = new SharedMemory({ name, create: true, size: 8 });
    try {
      expectCode(() => new SharedMemory({ name, create: true, size: 8 }), 'EEXIST');
    } finally {
      shm.close();
      shm.unlink();
    }
  });

  it('rejects invalid names before any system call', () => {
    const bad: unknown[] = ['', '/', '.', '..', 'a/b', '//x', 'a\0b', 'sp ace', 'ü', 'x'.repeat(256), 42, {}, Symbol('s')];
    for (const name of bad) {
      expectCode(() => new SharedMemory({ name: name as string, create: true, size: 8 }), 'ERR_SHM_INVALID_NAME');
      expectCode(() => SharedMemory.unlink(name as string), 'ERR_SHM_INVALID_NAME');
    }
    expectCode(() => new SharedMemory({}), 'ERR_SHM_INVALID_NAME');
  });

  it('rejects invalid sizes and options', () => {
    const name = uniqueName();
    for (const size of [0, -1, 1.5, NaN, Infinity, '8', 2 ** 53, undefined, null]) {
      expectCode(() => new SharedMemory({ name, create: true, size: size as number }), 'ERR_SHM_INVALID_SIZE');
    }
    expectCode(() => new SharedMemory(null as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => new SharedMemory(5 as never), 'ERR_SHM_INVALID_ARG');
    expectCode(() => new SharedMemory({ name, create: 'yes' as never, size: 8 }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => new SharedMemory({ name, create: true, size: 8, mode: 0o1000 }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => new SharedMemory({ name, create: true, size: 8, mode: -1 }), 'ERR_SHM_INVALID_ARG');
    expectCode(() => new SharedMemory({ name }), 'ENOENT'); // nothing was created by the failures above
  });

  it('attaching with a size larger than the segment is a typed error, not a SIGBUS', () => {
    const name = uniqueName();
    const shm = new SharedMemory({ name, create: true, size: 4096 });
    try {
      expectCode(() => new SharedMemory({ name, size: 8192 }), 'ERR_SHM_INVALID_SIZE');
      const ok = new SharedMemory({ name, size: 100 });
      expect(ok.size).toBe(4096);
      ok.close();
    } finally {
      shm.close();
      shm.unlink();
    }
  });

  it.runIf(onLinux)('attaching to a segment of size 0 is ERR_SHM_EMPTY', () => {
    const name = uniqueName();
    writeFileSync(`/dev/shm/${name}`, '', { mode: 0o600 });
    try {
      expectCode(() => new SharedMemory(name), 'ERR_SHM_EMPTY');
    } finally {
      rmSync(`/dev/shm/${name}`);
    }
  });

  it.runIf(onLinux && process.getuid?.() !== 0)('EACCES for a segment without permission', () => {
    const name = uniqueName();
    const shm = new SharedMemory({ name, create: true, size: 8, mode: 0o000 });
    try {
      expectCode(() => new SharedMemory(name), 'EACCES');
    } finally {
      shm.close();
      shm.unlink();
    }
  });
});

describe('sizes past what this Node can map', () => {
  const limit = constants.MAX_LENGTH;

  it.runIf(limit < Number.MAX_SAFE_INTEGER)('creating one is ERR_SHM_INVALID_SIZE and leaves nothing behind (no abort)', () => {
    const name = uniqueName('big');
    expectCode(() => new SharedMemory({ name, create: true, size: limit + 1 }), 'ERR_SHM_INVALID_SIZE');
    expectCode(() => SharedArray.create(name, 'uint8', limit), 'ERR_SHM_INVALID_SIZE');
    expectCode(() => new SharedMemory(name), 'ENOENT');
  });

  it.runIf(onLinux)('a 5 GiB file made by another program opens where Node can map it, else is ERR_SHM_INVALID_SIZE (never an abort)', () => {
    const name = uniqueName('huge');
    execFileSync('truncate', ['-s', '5G', `/dev/shm/${name}`]); // sparse: no memory used
    try {
      if (5 * 2 ** 30 > limit) {
        expectCode(() => new SharedMemory(name), 'ERR_SHM_INVALID_SIZE');
        expectCode(() => SharedArray.open(name, { timeout: 0 }), 'ERR_SHM_INVALID_SIZE');
      } else {
        const shm = new SharedMemory(name);
        expect(shm.size).toBe(5 * 2 ** 30);
        shm.close();
      }
    } finally {
      SharedMemory.unlink(name);
    }
  });
});

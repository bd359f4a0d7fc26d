import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';

describe('use after close', () => {
  it('throws TypeError from every view instead of crashing the process', async () => {
    const run = await runFixture('use-after-close.mjs', [], { nodeArgs: ['--expose-gc'] });
    expect(run.signal, run.stderr).toBeNull();
    expect(run.code, run.stderr).toBe(0);
    const results = JSON.parse(run.stdout);
    expect(results['u8.fill'].threw).toBe('TypeError');
    expect(results['f64.set'].threw).toBe('TypeError');
    expect(results['dataview.getUint8'].threw).toBe('TypeError');
    expect(results['new Uint8Array(buffer)'].threw).toBe('TypeError');
    expect(results['buf.readUInt8'].threw).toMatch(/Error/);
    expect(results['shm.buffer']).toEqual({ threw: 'ShmError', code: 'ERR_SHM_CLOSED' });
    expect(results['shm.buf']).toEqual({ threw: 'ShmError', code: 'ERR_SHM_CLOSED' });
    expect(results['u8[0] read']).toEqual({ value: 'undefined' });
    expect(results.lengths).toEqual([0, 0, 0, 0]);
    expect(results.freshOk).toBe(true);
  });
});

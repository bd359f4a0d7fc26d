// One name prefix per test run, handed to every test file; after the run,
// any /dev/shm entry carrying it is a leak and fails the run.
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    namePrefix: string;
  }
}

const SHM_DIR = '/dev/shm';

function leftovers(prefix: string): string[] {
  try {
    return readdirSync(SHM_DIR).filter((entry) => entry.startsWith(prefix) || entry.startsWith(`sem.${prefix}`));
  } catch {
    return []; // no /dev/shm (macOS): segments are not visible as files there
  }
}

/** Removes the doorbell files of test processes that were killed (native/wait/doorbell.h). */
async function sweepDoorbells(): Promise<void> {
  if (process.platform !== 'linux') return;
  const { native } = await import('../dist/core/native.js');
  native.sweepDoorbells();
}

export default function setup(project: TestProject) {
  const prefix = `tk${randomBytes(3).toString('hex')}_`;
  project.provide('namePrefix', prefix);
  return async () => {
    await sweepDoorbells();
    const leaked = leftovers(prefix);
    for (const entry of leaked) rmSync(`${SHM_DIR}/${entry}`, { force: true });
    if (leaked.length > 0) {
      throw new Error(`tests leaked ${leaked.length} shared-memory entries: ${leaked.join(', ')}`);
    }
  };
}

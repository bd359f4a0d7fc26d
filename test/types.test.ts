// The package's types as a user's strict project sees them: test/types/
// compiles consumer.ts (typed Queue/Pipe, Array.open by dtype, the closed
// ShmErrorCode union, and misuses that must not compile) with `tsc --strict`
// and @types/node only, against the built dist/ through the package's exports.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

describe('types', () => {
  it('a strict consumer project compiles against the package, and its misuses do not', () => {
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', join(root, 'test', 'types', 'tsconfig.json')], { cwd: root, encoding: 'utf8' });
    } catch (err) {
      output = (err as { stdout?: string }).stdout ?? String(err);
    }
    expect(output).toBe('');
  }, 60_000);
});

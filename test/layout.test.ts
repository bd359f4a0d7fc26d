// The shared-memory layout has one definition, native/core/layout.h: lib/ gets its
// constants from lib/core/layout.ts and the addon's introspection from
// native/core/layout_values.cc, both generated from the header. This fails when
// either file was edited by hand or not regenerated, and when the addon that
// loaded was built from other values than lib/ has (a stale build).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as layout from '../dist/core/layout.js';
import { native } from '../dist/core/native.js';
import { root } from './helpers.js';

describe('the shared-memory layout', () => {
  it('lib/core/layout.ts and native/core/layout_values.cc are what native/core/layout.h makes', () => {
    expect(() => execFileSync(process.execPath, [join(root, 'scripts', 'gen-layout.mjs'), '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it('the addon was built with the values lib/ uses', () => {
    expect(native.layoutValues()).toEqual(JSON.parse(JSON.stringify(layout)));
  });
});

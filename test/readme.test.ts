// README examples are tested: every ```js block runs as its own node program.
// Names in them that start with 'readme- get this run's prefix, so a run never
// touches a user's segments.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { root, start } from './helpers.js';

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

describe('README examples', () => {
  it('has examples', () => expect(blocks.length).toBeGreaterThan(0));
  it.each(blocks.map((code, i) => [i + 1, code] as const))('example %i runs', async (_, code) => {
    const source = code.replaceAll(`'readme-`, `'${inject('namePrefix')}readme-`);
    const run = await start(process.execPath, ['--input-type=module', '-e', source]).done;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // Lines with a trailing `// value` comment after console.log must print that value.
    const expected = [...code.matchAll(/console\.log\(.*\); \/\/ (.+)$/gm)].map((m) => m[1]);
    expect(run.stdout.trim().split('\n').slice(0, expected.length)).toEqual(expected);
  });
});

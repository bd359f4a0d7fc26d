// README examples are tested. Each plain ```js block runs as its own node
// program; the two-program example must show examples/prices-*.mjs verbatim,
// and those run as two separate programs. Names starting with 'readme- or
// 'demo- get this run's prefix, so a run never touches a user's segments.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { root, start } from './helpers.js';

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const plainBlocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

function isolate(source: string): string {
  const prefix = inject('namePrefix');
  return source.replaceAll(`'readme-`, `'${prefix}readme-`).replaceAll(`'demo-`, `'${prefix}demo-`);
}

function runSource(source: string) {
  return start(process.execPath, ['--input-type=module', '-e', isolate(source)]).done;
}

describe('README examples', () => {
  it('has examples', () => expect(plainBlocks.length).toBeGreaterThan(0));

  it.each(plainBlocks.map((code, i) => [i + 1, code] as const))('example %i runs', async (_, code) => {
    const run = await runSource(code);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // A console.log line ending in `// value` must print that value.
    const expected = [...code.matchAll(/console\.log\(.*\); \/\/ (.+)$/gm)].map((m) => m[1]);
    expect(run.stdout.trim().split('\n').slice(0, expected.length)).toEqual(expected);
  });

  it('shows the Value/Array two-program example verbatim, and it runs as shown', async () => {
    const writer = readFileSync(join(root, 'examples', 'prices-writer.mjs'), 'utf8');
    const reader = readFileSync(join(root, 'examples', 'prices-reader.mjs'), 'utf8');
    expect(readme).toContain(`\`\`\`js title="examples/prices-writer.mjs"\n${writer}\`\`\``);
    expect(readme).toContain(`\`\`\`js title="examples/prices-reader.mjs"\n${reader}\`\`\``);
    const first = await runSource(writer);
    expect(first.stderr).toBe('');
    const second = await runSource(reader);
    expect(second.stderr).toBe('');
    const shown = readme.match(/```\n(writer: .*\nreader: .*)\n```/)![1];
    expect(`${first.stdout}${second.stdout}`.trim()).toBe(shown);
  });
});

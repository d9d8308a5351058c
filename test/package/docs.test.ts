import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify, stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * The API reference (`npm run docs`, TypeDoc) covers every public entry, and TypeDoc finds every exported
 * symbol documented (TSDoc) and every type a public signature uses exported: its validation warnings
 * are errors (typedoc.json), so this fails on the first undocumented export.
 */
const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

describe('the API reference', () => {
  it('documents every public entry of package.json', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { default: string }>;
    };
    const entries = Object.values(pkg.exports)
      .filter((target): target is { default: string } => typeof target !== 'string')
      .map((target) => target.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
    const typedoc = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as { entryPoints: string[] };
    expect([...typedoc.entryPoints].sort()).toEqual(entries.sort());
    expect(pkg).toMatchObject({ scripts: { docs: 'typedoc' } });
  });

  it('finds every exported symbol documented (typedoc --emit none, warnings as errors)', async () => {
    const typedoc = join(root, 'node_modules/typedoc/bin/typedoc');
    const result = await run(process.execPath, [typedoc, '--emit', 'none'], { cwd: root }).then(
      ({ stdout }) => ({ code: 0, out: stdout }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        out: error.stdout + error.stderr,
      }),
    );
    expect(stripVTControlCharacters(result.out)).not.toMatch(/\[warning\]|\[error\]/);
    expect(result.code).toBe(0);
  }, 120_000);
});

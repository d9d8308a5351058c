import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The dependency rule: cli → aggregator|engine|hardware → transport|protocol → nothing; machines/ → xstate. */
const root = resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/**
 * Every module specifier a file imports (`import … from`, `export … from`, side-effect `import '…'`,
 * `import(…)` and `require(…)`), resolved to a project path when relative.
 */
function imports(file: string): string[] {
  return specifiers(readFileSync(join(root, file), 'utf8')).map((spec) =>
    spec.startsWith('.') ? relative(root, resolve(join(root, file, '..'), spec)) : spec,
  );
}

function specifiers(text: string): string[] {
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+['"]([^'"]+)['"]/g)].map(
    (m) => m[1]!,
  );
  specs.push(...[...text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!));
  specs.push(...[...text.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!));
  return specs;
}

function violations(dir: string, allowed: (spec: string) => boolean): string[] {
  return sources(dir).flatMap((file) =>
    imports(file)
      .filter((spec) => !allowed(spec))
      .map((spec) => `${file} → ${spec}`),
  );
}

describe('layering', () => {
  it('finds the files it checks', () => {
    expect(sources('machines').length).toBeGreaterThanOrEqual(2);
    expect(sources('src/protocol').length).toBeGreaterThanOrEqual(3);
    expect(imports('src/transport/sides.ts')).toContain('src/protocol/codec.ts');
  });

  it('sees every kind of import', () => {
    const text = [
      "import { a } from './a.ts';",
      "export { b } from './b.ts';",
      "import 'node:fs';",
      "const c = require('node:child_process');",
      "const d = await import('./d.ts');",
    ].join('\n');
    expect(specifiers(text).sort()).toEqual(['./a.ts', './b.ts', './d.ts', 'node:child_process', 'node:fs']);
  });

  it('machines/ imports nothing but xstate (and each other)', () => {
    expect(violations('machines', (spec) => spec === 'xstate' || spec.startsWith('machines/'))).toEqual([]);
  });

  it('src/protocol imports nothing from the rest of engine-link', () => {
    expect(
      violations('src/protocol', (spec) => !spec.startsWith('src/') || spec.startsWith('src/protocol/')),
    ).toEqual([]);
  });

  it('src/transport imports only protocol and time', () => {
    const allowed = (spec: string) =>
      !spec.startsWith('src/') || /^src\/(transport|protocol|time)\//.test(spec) || spec.startsWith('node:');
    expect(violations('src/transport', allowed)).toEqual([]);
  });

  it('engine and aggregator do not import each other or the CLI', () => {
    expect(violations('src/engine', (spec) => !/^src\/(aggregator|cli|dashboard)\//.test(spec))).toEqual([]);
    expect(violations('src/aggregator', (spec) => !/^src\/(engine|cli)\//.test(spec))).toEqual([]);
  });

  it('hardware sees the engine only through the dispatcher interface', () => {
    const allowed = (spec: string) =>
      !/^src\/(aggregator|cli|dashboard|transport)\//.test(spec) &&
      (!spec.startsWith('src/engine/') || spec === 'src/engine/dispatcher.ts');
    expect(violations('src/hardware', allowed)).toEqual([]);
  });
});

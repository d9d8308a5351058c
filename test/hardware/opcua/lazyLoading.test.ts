import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * node-opcua is an optional peer dependency: only src/hardware/opcua/ imports it, nothing reaches that
 * folder but through its entry file, and the CLI loads it with import() only for `engine --opcua` and
 * `opcua-sim`. So an engine without OPC UA never loads node-opcua (nor needs it installed).
 */
const root = resolve(import.meta.dirname, '../../..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

interface Import {
  spec: string;
  /** `import()`: loaded when the code runs, not with the file. */
  dynamic: boolean;
}

/** What a file loads: static value imports (type-only ones are erased) and dynamic import() calls. */
function imports(file: string): Import[] {
  const text = readFileSync(join(root, file), 'utf8');
  const found: Import[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(import|export)(\s+type)?\s[^'";]*?from\s+['"]([^'"]+)['"]/g))
    if (!m[2]) found.push({ spec: m[3]!, dynamic: false });
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g))
    found.push({ spec: m[1]!, dynamic: false });
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g))
    found.push({ spec: m[1]!, dynamic: true });
  return found.map(({ spec, dynamic }) => ({
    spec: spec.startsWith('.') ? relative(root, resolve(join(root, file, '..'), spec)) : spec,
    dynamic,
  }));
}

/** Every project file loaded with `entry`, following static imports only. */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  for (let file = queue.shift(); file; file = queue.shift())
    for (const { spec, dynamic } of imports(file)) {
      if (dynamic || seen.has(spec)) continue;
      seen.add(spec);
      if (spec.endsWith('.ts') && existsSync(join(root, spec))) queue.push(spec);
    }
  return seen;
}

const OPCUA_DIR = 'src/hardware/opcua/';

describe('node-opcua is loaded only for OPC UA', () => {
  it('only src/hardware/opcua/ imports node-opcua', () => {
    const importers = [...sources('src'), ...sources('machines')].filter((file) =>
      imports(file).some(({ spec }) => spec === 'node-opcua' || spec.startsWith('node-opcua/')),
    );
    expect(importers.length).toBeGreaterThan(0);
    expect(importers.filter((file) => !file.startsWith(OPCUA_DIR))).toEqual([]);
  });

  it('outside its folder, the OPC UA module is reached through its entry file only', () => {
    const outside = sources('src').filter((file) => !file.startsWith(OPCUA_DIR));
    const reached = outside.flatMap((file) =>
      imports(file)
        .filter(({ spec }) => spec.startsWith(OPCUA_DIR))
        .map(({ spec }) => spec),
    );
    expect(reached.length).toBeGreaterThan(0);
    expect(new Set(reached)).toEqual(new Set([`${OPCUA_DIR}index.ts`]));
  });

  it('the CLI and the engine load it with import() only: their static imports never reach it', () => {
    for (const entry of [
      'src/cli/main.ts',
      'src/engine/resilientDispatcher.ts',
      'src/hardware/hardwareRecovery.ts',
    ]) {
      const closure = [...staticClosure(entry)];
      expect(closure.length, entry).toBeGreaterThan(1);
      expect(
        closure.filter((spec) => spec.startsWith(OPCUA_DIR) || spec.startsWith('node-opcua')),
        entry,
      ).toEqual([]);
    }
    // And the two commands that need it do load it.
    const dynamic = sources('src/cli').flatMap((file) =>
      imports(file)
        .filter((i) => i.dynamic)
        .map((i) => `${file} → ${i.spec}`),
    );
    expect(dynamic).toEqual(
      expect.arrayContaining([
        'src/cli/opcuaOption.ts → src/cli/opcuaHardware.ts',
        `src/cli/opcuaSimCommand.ts → ${OPCUA_DIR}index.ts`,
      ]),
    );
    expect([...staticClosure('src/cli/opcuaHardware.ts')]).toContain(`${OPCUA_DIR}index.ts`);
  });
});

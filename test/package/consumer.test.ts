import { execFile } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * engine-link as another program gets it: `npm pack` (which builds dist/ through `prepare`), the tarball
 * installed into a fresh project of its own with production dependencies only, then used there by node,
 * by tsc and by npx.
 *
 * What is cached, and why it is still honest: npm installs from its cache when it can
 * (`--prefer-offline`), and better-sqlite3's native module is not compiled again (two minutes on this
 * machine without a prebuilt download): the install skips install scripts, and the module npm ci built
 * for this repository, the same version (checked), is copied in. engine-link itself has no install script
 * (checked), and the tarball is packed and installed afresh every run.
 */
const root = resolve(import.meta.dirname, '../..');
const fixtures = join(import.meta.dirname, 'fixtures');
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};

let dir: string;
let tarball: { filename: string; size: number; files: string[] };
const timings: Record<string, number> = {};

async function timed<T>(step: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    timings[step] = Date.now() - started;
  }
}

function versionOf(modules: string, name: string): string {
  return (JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8')) as { version: string })
    .version;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'engine-link-consumer-'));
  const { stdout } = await timed('pack', () =>
    run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, maxBuffer: 64 << 20 }),
  );
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{
    filename: string;
    size: number;
    files: Array<{ path: string }>;
  }>;
  tarball = { filename: packed!.filename, size: packed!.size, files: packed!.files.map((file) => file.path) };

  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'engine-link-consumer',
      private: true,
      type: 'module',
      dependencies: { 'engine-link': `file:./${tarball.filename}` },
      devDependencies: { '@types/node': pkg.devDependencies['@types/node'] },
    }),
  );
  for (const file of ['consumer.mjs', 'consumer.ts', 'tsconfig.json'])
    copyFileSync(join(fixtures, file), join(dir, file));
  await timed('install', () =>
    run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir }),
  );
  const modules = join(dir, 'node_modules');
  expect(versionOf(modules, 'better-sqlite3')).toBe(versionOf(join(root, 'node_modules'), 'better-sqlite3'));
  const native = 'better-sqlite3/build/Release/better_sqlite3.node';
  mkdirSync(join(modules, native, '..'), { recursive: true });
  cpSync(join(root, 'node_modules', native), join(modules, native));
}, 300_000);

afterAll(() => {
  process.stdout.write(
    `consumer test: tarball ${(tarball.size / 1024).toFixed(0)} KiB, ${tarball.files.length} files; ` +
      `${Object.entries(timings)
        .map(([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`)
        .join(', ')}\n`,
  );
  rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds dist/, README.md and the license, and nothing else', () => {
    const top = new Set(tarball.files.map((path) => path.split('/')[0]));
    expect([...top].sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json']);
    for (const entry of [
      'index',
      'engine/index',
      'aggregator/index',
      'hardware/index',
      'hardware/opcua/index',
    ])
      for (const ext of ['.js', '.d.ts', '.d.ts.map', '.js.map'])
        expect(tarball.files, `${entry}${ext}`).toContain(`dist/src/${entry}${ext}`);
    expect(tarball.files).toContain('dist/machines/index.d.ts');
    expect(tarball.files).toContain('dist/src/dashboard/public/index.html');
    expect(tarball.files.filter((path) => /\.ts$/.test(path) && !path.endsWith('.d.ts'))).toEqual([]);
    expect(tarball.files.filter((path) => /^dist\/src\/(faults|soak)\//.test(path))).toEqual([]);
  });

  it('installs with production dependencies only, and no install script of its own', () => {
    const modules = join(dir, 'node_modules');
    const installed = JSON.parse(readFileSync(join(modules, 'engine-link/package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    expect(Object.keys(installed.scripts ?? {}).filter((name) => /install/.test(name))).toEqual([]);
    for (const dependency of ['better-sqlite3', 'ws', 'xstate', 'prom-client'])
      expect(existsSync(join(modules, dependency)), dependency).toBe(true);
    for (const devOnly of ['tsx', 'typescript', 'vitest', '@biomejs/biome', 'typedoc', 'node-opcua'])
      expect(existsSync(join(modules, devOnly)), devOnly).toBe(false);
  });

  it('runs in node: an aggregator on SQLite and a ResilientDispatcher, 1,000 records persisted', async () => {
    const { stdout } = await timed('node', () =>
      run(process.execPath, ['consumer.mjs'], { cwd: dir, timeout: 60_000 }),
    );
    const [result, opcua] = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(result).toEqual({ sent: 1000, acked: 1000, persisted: 1000, inOrder: true });
    // engine-link/opcua needs its optional peer dependency, and says so when it is missing.
    expect(opcua).toMatchObject({
      opcua: 'ERR_MODULE_NOT_FOUND',
      message: expect.stringContaining('node-opcua'),
    });
  });

  it('type-checks a TypeScript consumer of the public types (tsc --noEmit, no skipLibCheck)', async () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const result = await timed('tsc', () =>
      run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir }).then(
        ({ stdout }) => stdout,
        (error: { stdout: string }) => error.stdout,
      ),
    );
    expect(result).toBe('');
  });

  it('runs its bin with npx', async () => {
    const help = await timed('npx', () => run('npx', ['engine-link', '--help'], { cwd: dir }));
    expect(help.stdout).toContain('Usage: engine-link <command>');
    expect(help.stdout).toContain('aggregator');
    const version = await run('npx', ['engine-link', '--version'], { cwd: dir });
    expect(version.stdout.trim()).toBe(`engine-link ${pkg.version}`);
  });
});

import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cliMain, commands } from '../../src/cli/cliMain.ts';
import type { OptionSpec, OptionSpecs } from '../../src/cli/optionSpec.ts';
import { type CliProcess, runCli } from '../support/childProcess.ts';
import { type Fixtures, invalidValues, makeFixtures, validValue } from './support/invalidValues.ts';

/**
 * One rule for every option of every command, checked from the option specs themselves: a value that
 * breaks its spec's rule gets one line naming the option and the problem (and where the help is), exit
 * status 2, at once, no stack trace, and nothing created on disk, since values are checked before any
 * file or socket is opened. Every (command, option, invalid value) runs in process; one invalid value per
 * option kind of each command also runs as a real process, as a user would meet it.
 */

let scratch: string;
let work: string;
let fixtures: Fixtures;
const startDir = process.cwd();

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'engine-link-rules-'));
  const fixtureDir = join(scratch, 'fixtures');
  mkdirSync(fixtureDir);
  fixtures = makeFixtures(fixtureDir);
  work = join(scratch, 'work');
  mkdirSync(work);
  // Relative defaults (./data/aggregator.db) land here, where the test sees them.
  process.chdir(work);
});
afterAll(() => process.chdir(startDir));

/** Every file and directory under the scratch directory. */
function listing(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      out.push(relative(scratch, path));
      if (entry.isDirectory()) walk(path);
    }
  };
  walk(scratch);
  return out.sort();
}

/** The arguments a case needs besides the invalid value: the options its option requires, and theirs. */
function needed(specs: OptionSpecs, spec: OptionSpec, seen = new Set<OptionSpec>([spec])): string[] {
  if (spec.requires === undefined) return [];
  const required = specs[spec.requires]!;
  if (seen.has(required)) return [];
  seen.add(required);
  return [
    ...needed(specs, required, seen),
    `--${spec.requires}=${validValue(required, fixtures, join(work, 'never'))}`,
  ];
}

/** Runs one command line in this process, capturing what it writes. */
async function runInProcess(argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  try {
    const code = await Promise.race([
      cliMain(argv),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`still running after 5 s: ${argv.join(' ')}`)), 5000).unref(),
      ),
    ]);
    return { code, stderr, stdout };
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
}

function expectOneLineUsageError(
  result: { code: number | null; stderr: string },
  option: string,
  command: string,
  what: string,
) {
  expect(result.code, what).toBe(2);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, `${what}: one line\n${result.stderr}`).toHaveLength(1);
  expect(lines[0], what).toContain(`engine-link ${command}: `);
  expect(lines[0], what).toContain(`--${option}`);
  expect(lines[0], what).toContain(`see 'engine-link ${command} --help'`);
  expect(result.stderr, `${what}: no stack trace`).not.toMatch(/\n\s+at /);
}

describe('every option of every command, from its spec', () => {
  it('covers every command and option kind', () => {
    expect(Object.keys(commands).sort()).toEqual([
      'aggregator',
      'demo',
      'engine',
      'inspector',
      'opcua-sim',
      'status',
    ]);
    const kinds = new Set(
      Object.values(commands).flatMap(({ specs }) => Object.values(specs).map((s) => s.kind)),
    );
    expect([...kinds].sort()).toEqual(
      [
        'duration',
        'enum',
        'flag',
        'host',
        'integer',
        'number',
        'path',
        'port',
        'secret-file',
        'text',
        'url',
      ].sort(),
    );
  });

  for (const [command, { specs }] of Object.entries(commands))
    for (const [option, spec] of Object.entries(specs))
      it(`${command} --${option} (${spec.kind}): each invalid value is one line, status 2, at once, nothing created`, async () => {
        const before = listing();
        for (const value of invalidValues(spec, fixtures)) {
          const argv = [command, ...needed(specs, spec), `--${option}=${value}`];
          const started = performance.now();
          const result = await runInProcess(argv);
          const elapsed = performance.now() - started;
          const what = argv.join(' ');
          expectOneLineUsageError(result, option, command, what);
          expect(result.stdout, what).toBe('');
          expect(elapsed, what).toBeLessThan(2000);
          expect(listing(), `${what}: nothing created`).toEqual(before);
        }
      });

  it('an invalid value from an environment variable names the variable', async () => {
    vi.stubEnv('ENGINE_LINK_INSPECT', 'ftp://example.org');
    try {
      const result = await runInProcess(['aggregator', '--port', '0', '--db', ':memory:']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /^engine-link aggregator: ENGINE_LINK_INSPECT must be a ws:\/\/ or wss:\/\/ URL/,
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('options that need another, or exclude one, say so', async () => {
    for (const [argv, pattern] of [
      [['engine', '--id', 'x', '--simulate', '--outbox-sync', 'always'], /--outbox-sync needs --outbox/],
      [
        ['engine', '--id', 'x', '--simulate', '--outbox-max-bytes', '100000'],
        /--outbox-max-bytes needs --outbox/,
      ],
      [
        ['engine', '--id', 'x', '--simulate', '--outbox', join(work, 'o'), '--max-records', '100'],
        /--max-records and --outbox cannot be given together/,
      ],
      [['aggregator', '--key', fixtures.file], /--key needs --cert/],
      [['engine', '--id', 'x', '--simulate', '--ca', fixtures.file], /--ca needs a wss:\/\/ --aggregator/],
      [
        ['aggregator', '--heartbeat-ms', '3000'],
        /--heartbeat-timeout \(2500 ms\) must be longer than --heartbeat-ms/,
      ],
      [['engine', '--simulate'], /--id is required/],
      // Several aggregators: the entry that is wrong is named; the same one twice is refused.
      [
        ['engine', '--id', 'x', '--simulate', '--aggregator', 'ws://a:8080, wss//b:8080'],
        /--aggregator entry "wss\/\/b:8080" must be a URL starting with ws:\/\/ or wss:\/\//,
      ],
      [
        ['engine', '--id', 'x', '--simulate', '--aggregator', 'ws://a:8080,ws://b:8080,ws://A:8080/'],
        /--aggregator gives the same URL twice \("ws:\/\/a:8080" and "ws:\/\/A:8080\/"\)/,
      ],
    ] as const) {
      const before = listing();
      const result = await runInProcess([...argv]);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr.trimEnd().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(result.stderr, argv.join(' ')).toMatch(pattern);
      expect(listing()).toEqual(before);
    }
  });

  it('the help of every option states its rule and default from the same spec', async () => {
    const help = await runInProcess(['aggregator', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(
      /--port <port>\s+port for HTTP and engine links \(0: any free port\) \(default: 8080; 0-65535\)/,
    );
    expect(help.stdout).toMatch(/--abandon-after <seconds>.*\(default: 86400 s; 0-2147483 s\)/);
    expect(help.stdout).toMatch(/--secret-file <file>\s+file holding the secret/);
    expect(help.stdout).toMatch(/--secret <secret>.*\(or ENGINE_LINK_SECRET\)/);
    const engine = await runInProcess(['engine', '--help']);
    expect(engine.stdout).toMatch(/--outbox-sync <always\|batch>.*\(default: batch; with --outbox\)/);
    expect(engine.stdout).toMatch(/--rate <records\/s>.*\(default: 100; >0-1000000\)/);
  });
});

describe('the same rule as users meet it, in real processes', () => {
  const running: CliProcess[] = [];
  afterAll(() => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  it('one invalid value of every option kind, in every command: one line, status 2, nothing created', async () => {
    // Every kind of option at least once, and every command at least once.
    const cases: Array<{ command: string; option: string; argv: string[] }> = [];
    const seen = new Set<string>();
    for (const [command, { specs }] of Object.entries(commands)) {
      let covered = false;
      for (const [option, spec] of Object.entries(specs)) {
        const kind = spec.kind === 'path' ? `path:${spec.role}` : spec.kind;
        if (seen.has(kind) && covered) continue;
        seen.add(kind);
        covered = true;
        const value = invalidValues(spec, fixtures)[0]!;
        cases.push({ command, option, argv: [command, ...needed(specs, spec), `--${option}=${value}`] });
      }
    }
    const before = listing();
    const results: Array<{ argv: string[]; ms: number }> = [];
    // A few at a time: each is a whole Node process.
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async ({ command, option, argv }) => {
          const started = performance.now();
          const p = runCli(argv, {}, { cwd: work });
          running.push(p);
          const code = await Promise.race([
            p.exited,
            new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000).unref()),
          ]);
          results.push({ argv, ms: Math.round(performance.now() - started) });
          expectOneLineUsageError(
            { code: code === 'hung' ? null : code, stderr: p.stderr() },
            option,
            command,
            argv.join(' '),
          );
          expect(p.lines, argv.join(' ')).toEqual([]);
        }),
      );
    }
    expect(listing()).toEqual(before);
    expect(results.length).toBeGreaterThanOrEqual(14);
  }, 180_000);
});

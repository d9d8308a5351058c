import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { specs as demoSpecs } from '../../src/cli/demoCommand.ts';
import { cliProcesses, startAggregatorCli } from '../support/childProcess.ts';
import { rawRequest } from '../support/rawHttp.ts';
import { tempDbPath } from '../support/tempDb.ts';

/**
 * Items 12 and 13, as operators meet them: secrets kept off the command line (files, environment),
 * a token file that admits nobody, `--version`, and help texts that say what the commands do.
 */
const { start } = cliProcesses();

function secretFile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

async function until(what: string, test: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await test()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

describe('secrets off the command line', () => {
  it('--secret-file, --api-token-file and the environment work everywhere; a secret on the command line is warned about', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'engine-link-secrets-'));
    const secret = secretFile(dir, 'engine.secret', 'engines-only-3f9a\n');
    const apiToken = secretFile(dir, 'api.token', '  api-token-77c1  \n');
    const { url, wsUrl: ws } = await startAggregatorCli(start, tempDbPath(), [
      '--secret-file',
      secret,
      '--api-token-file',
      apiToken,
    ]);
    const viaEnv = start(
      ['engine', '--aggregator', ws, '--id', 'env-1', '--simulate', '--rate', '10', '--log-level', 'warn'],
      {
        ENGINE_LINK_SECRET: 'engines-only-3f9a',
      },
    );
    const viaFile = start([
      'engine',
      '--aggregator',
      ws,
      '--id',
      'file-1',
      '--simulate',
      '--rate',
      '10',
      '--secret-file',
      secret,
    ]);
    const inClear = start([
      'engine',
      '--aggregator',
      ws,
      '--id',
      'clear-1',
      '--simulate',
      '--rate',
      '10',
      '--secret',
      'engines-only-3f9a',
    ]);
    const auth = { authorization: 'Bearer api-token-77c1' };
    await until('three engines available', async () => {
      const engines = (await rawRequest(`${url}/api/engines`, { headers: auth })).json as Array<{
        link: string;
      }>;
      return Array.isArray(engines) && engines.filter((e) => e.link === 'available').length === 3;
    });
    expect(inClear.stderr()).toMatch(
      /--secret on the command line is visible to every user of this machine \(ps\): prefer --secret-file or ENGINE_LINK_SECRET/,
    );
    expect(viaEnv.stderr()).not.toMatch(/visible to every user/);
    expect(viaFile.stderr()).not.toMatch(/visible to every user/);

    const withFile = start(['status', '--aggregator', url, '--api-token-file', apiToken, '--json']);
    expect(await withFile.exited, withFile.stderr()).toBe(0);
    expect(Object.keys(JSON.parse(withFile.lines.join('\n'))).sort()).toEqual([
      'engines',
      'hardware',
      'runs',
    ]);
    const withEnv = start(['status', '--aggregator', url], { ENGINE_LINK_API_TOKEN: 'api-token-77c1' });
    expect(await withEnv.exited).toBe(0);
    // What status --help promises: 1 when the aggregator answers with an error, such as 401.
    const without = start(['status', '--aggregator', url]);
    expect(await without.exited).toBe(1);
    expect(without.stderr()).toMatch(/answered 401/);
    const both = start(['engine', '--id', 'x', '--simulate', '--secret', 's', '--secret-file', secret]);
    expect(await both.exited).toBe(2);
    expect(both.stderr()).toMatch(/--secret-file and --secret cannot be given together/);
  });

  it('warns when a token file lists no engine and there is no secret: every engine would be refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'engine-link-tokens-'));
    const empty = join(dir, 'tokens.txt');
    writeFileSync(empty, '# nobody yet\n');
    const aggregator = start([
      'aggregator',
      '--port',
      '0',
      '--db',
      tempDbPath(),
      '--tokens',
      empty,
      '--log-level',
      'warn',
    ]);
    await aggregator.waitForLine(/listening on/);
    await until('the warning', () => /lists no engine/.test(aggregator.stderr()));
    expect(aggregator.stderr()).toMatch(
      /the token file .*tokens\.txt lists no engine and there is no --secret: every engine will be refused \(401\) until the file lists some \(kill -HUP rereads it\)/,
    );
  });
});

describe('what the commands say about themselves', () => {
  it('--version, on its own and after a command', async () => {
    const alone = start(['--version']);
    const after = start(['engine', '--version']);
    expect(await alone.exited).toBe(0);
    expect(await after.exited).toBe(0);
    expect(alone.lines).toEqual([expect.stringMatching(/^engine-link \d+\.\d+\.\d+$/)]);
    expect(after.lines).toEqual(alone.lines);
  });

  it("status and demo help say what they do: exit statuses, the JSON's keys, the defaults they show", async () => {
    const status = start(['status', '--help']);
    const demo = start(['demo', '--help']);
    expect(await status.exited).toBe(0);
    expect(await demo.exited).toBe(0);
    const statusHelp = status.lines.join('\n');
    expect(statusHelp).toMatch(
      /Exits 0 when it printed them, 1 when the\s+aggregator cannot be reached or answers with an error/,
    );
    expect(statusHelp).toMatch(/--json\s+print \{engines, runs, hardware\} as JSON/);
    const demoHelp = demo.lines.join('\n');
    const usage = demoHelp.split('\n')[0]!;
    for (const [name, spec] of Object.entries(demoSpecs)) {
      const shown = new RegExp(`\\[--${name} ([^\\]]+)\\]`).exec(usage)?.[1];
      if (shown !== undefined && 'default' in spec) expect(shown, name).toBe(String(spec.default));
    }
    expect(demoHelp).toMatch(
      /exits 0 when\s+every record was persisted exactly once and in order, 1 otherwise/,
    );
  });
});

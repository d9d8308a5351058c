import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, runCli } from '../support/childProcess.ts';
import { tempDbPath } from '../support/tempDb.ts';

/** The CLI as a user runs it: real processes, real ports, real signals. */
const running: CliProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
});

function start(args: string[]): CliProcess {
  const p = runCli(args);
  running.push(p);
  return p;
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  return response.json();
}

describe('engine-link CLI', () => {
  it('prints help for every command, with defaults', async () => {
    for (const command of ['aggregator', 'engine', 'demo']) {
      const p = start([command, '--help']);
      expect(await p.exited).toBe(0);
      expect(p.lines.join('\n')).toMatch(new RegExp(`Usage: engine-link ${command}`));
      expect(p.lines.join('\n')).toMatch(/\(default: /);
    }
  });

  it('refuses unknown commands and options with a clear message', async () => {
    const unknown = start(['launch']);
    expect(await unknown.exited).toBe(2);
    expect(unknown.stderr()).toMatch(/unknown command "launch"/);
    const badOption = start(['engine', '--id', 'x', '--simulate', '--rate', 'fast']);
    expect(await badOption.exited).toBe(2);
    expect(badOption.stderr()).toMatch(/--rate must be a number/);
  });

  it('runs an aggregator and a simulated engine; the engine drains on SIGTERM and reports its counts', async () => {
    const aggregator = start(['aggregator', '--port', '0', '--db', tempDbPath(), '--log-level', 'warn']);
    const listening = await aggregator.waitForLine(/listening on/);
    const url = /listening on (http:\/\/[^\s]+)/.exec(listening)![1]!;
    const wsUrl = url.replace('http', 'ws');
    const engine = start(['engine', '--aggregator', wsUrl, '--id', 'cli-1', '--simulate', '--rate', '500']);
    // Wait until the aggregator has persisted something from the engine.
    for (;;) {
      const engines = (await getJson(`${url}/api/engines`)) as Array<{ id: string; persistedSeq: number }>;
      if ((engines.find((e) => e.id === 'cli-1')?.persistedSeq ?? 0) > 100) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    engine.child.kill('SIGTERM');
    const final = JSON.parse(await engine.waitForLine(/^\{"engineId"/)) as Record<string, number | string>;
    expect(await engine.exited).toBe(0);
    expect(final).toMatchObject({ engineId: 'cli-1', dropped: 0, backlog: 0 });
    expect(final.produced).toBe(final.lastSeq);
    expect(final.acked).toBe(final.lastSeq);
    const view = (await getJson(`${url}/api/engines/cli-1`)) as Record<string, unknown>;
    expect(view).toMatchObject({
      id: 'cli-1',
      link: 'offline',
      persistedSeq: final.lastSeq,
      epoch: final.epoch,
    });
    aggregator.child.kill('SIGTERM');
    expect(await aggregator.exited).toBe(0);
  });
});

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

  it('runs simulated methods (every 2nd fails) and answers commands through the aggregator', async () => {
    const aggregator = start(['aggregator', '--port', '0', '--db', tempDbPath(), '--log-level', 'warn']);
    const url = /listening on (http:\/\/[^\s]+)/.exec(await aggregator.waitForLine(/listening on/))![1]!;
    start([
      'engine',
      '--aggregator',
      url.replace('http', 'ws'),
      '--id',
      'runner',
      '--simulate',
      '--rate',
      '20',
      '--run-seconds',
      '0.3',
      '--fail-every',
      '2',
      '--log-level',
      'warn',
    ]);
    type Run = {
      id: string;
      state: string;
      startedAt: number;
      endedAt: number | null;
      reason: string | null;
    };
    let runs: Run[] = [];
    // Poll the API (bounded by the test timeout) until two runs have ended.
    while (runs.filter((r) => r.endedAt !== null).length < 2) {
      runs = (await getJson(`${url}/api/runs?engine=runner`)) as Run[];
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const ended = runs.filter((r) => r.endedAt !== null).sort((a, b) => a.startedAt - b.startedAt);
    expect(ended[0]).toMatchObject({ state: 'completed', reason: null });
    expect(ended[1]).toMatchObject({ state: 'failed', reason: 'simulated failure' });
    expect(ended[0]!.endedAt! - ended[0]!.startedAt).toBeGreaterThanOrEqual(300);
    const response = await fetch(`${url}/api/engines/runner/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ping', id: 'cli-ping' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      id: 'cli-ping',
      ok: true,
      result: { pong: expect.any(Number) },
    });
  });
});

import { describe, expect, it } from 'vitest';
import { type CliProcess, cliProcesses, exitWithin, startAggregatorCli } from '../support/childProcess.ts';
import { rawRequest } from '../support/rawHttp.ts';
import { tempDbPath } from '../support/tempDb.ts';

/**
 * Item 11: a second stop signal cuts the engine's drain short, but never silently: it says so, still says
 * goodbye (the aggregator shows the engine offline, not unavailable), and prints its summary with what was
 * left. Item 7: an engine at its highest rate still answers its signals. Real processes and signals.
 */
const { start } = cliProcesses();

function stderrMatching(p: CliProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (pattern.test(p.stderr())) {
        clearInterval(timer);
        resolve();
      } else if (p.child.exitCode !== null || p.child.signalCode !== null) {
        clearInterval(timer);
        reject(new Error(`exited before ${pattern}:\n${p.stderr()}`));
      }
    };
    const timer = setInterval(check, 20);
    check();
  });
}

describe('stopping an engine', () => {
  it('a second SIGTERM stops the drain, says so, still says goodbye (offline), and prints what was left', async () => {
    // An aggregator that stores 300 records/s from an engine producing 3,000/s: a backlog that drains slowly.
    const { url } = await startAggregatorCli(start, tempDbPath(), ['--max-ingest-rate', '300']);
    const engine = start([
      'engine',
      '--aggregator',
      url.replace('http', 'ws'),
      '--id',
      'slow-drain',
      '--simulate',
      '--rate',
      '3000',
      '--drain-timeout',
      '600',
      '--progress-ms',
      '100',
    ]);
    await new Promise<void>((resolve) =>
      engine.onLine((line) => {
        const progress = /"lastSeq":(\d+).*"acked":(\d+)/.exec(line);
        if (progress && Number(progress[2]) > 0 && Number(progress[1]) - Number(progress[2]) > 3000)
          resolve();
      }),
    );
    engine.child.kill('SIGTERM');
    await stderrMatching(engine, /stopping: draining the backlog/);
    engine.child.kill('SIGTERM');
    expect(await exitWithin(engine)).toBe(0);
    const stderr = engine.stderr();
    expect(stderr).toMatch(
      /SIGTERM again: not waiting for the backlog any longer: saying goodbye to the aggregator and stopping now/,
    );
    expect(stderr).toMatch(/stopped with \d+ records not acknowledged: held in memory only, they are lost/);
    const summary = JSON.parse(engine.lines.find((line) => line.startsWith('{"engineId"'))!) as {
      backlog: number;
      acked: number;
    };
    expect(summary.backlog).toBeGreaterThan(0);
    // The goodbye reached the aggregator: the engine is offline (a clean stop), not unavailable.
    const view = (await rawRequest(`${url}/api/engines/slow-drain`)).json as {
      link: string;
      persistedSeq: number;
    };
    expect(view.link).toBe('offline');
    expect(view.persistedSeq).toBeGreaterThanOrEqual(summary.acked);
  });

  it('item 7: at its highest rate an engine still answers SIGTERM at once, and a rate above it is refused', async () => {
    const tooFast = start(['engine', '--id', 'fast', '--simulate', '--rate', '1e9']);
    expect(await exitWithin(tooFast)).toBe(2);
    expect(tooFast.stderr()).toMatch(/--rate must be a number above 0, at most 1000000 \(got "1e9"\)/);
    const fastest = start([
      'engine',
      '--aggregator',
      'ws://127.0.0.1:9',
      '--id',
      'fast',
      '--simulate',
      '--rate',
      '1000000',
      '--drain-timeout',
      '0',
      '--progress-ms',
      '200',
    ]);
    await new Promise<void>((resolve) =>
      fastest.onLine((line) => {
        if (Number(/"lastSeq":(\d+)/.exec(line)?.[1] ?? 0) > 200_000) resolve();
      }),
    );
    fastest.child.kill('SIGTERM');
    expect(await exitWithin(fastest), fastest.stderr().slice(-2000)).toBe(0);
    expect(fastest.lines.filter((line) => !line.startsWith('{"progress"'))).toEqual([
      expect.stringMatching(/^{"engineId":"fast"/),
    ]);
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_FROM_SOURCE } from '../../src/faults/cliProcess.ts';
import { FaultProxy } from '../../src/transport/faultProxy.ts';
import { InspectionReceiver } from '../inspect/support.ts';
import { type CliProcess, runCli } from '../support/childProcess.ts';
import { tempDbPath } from '../support/tempDb.ts';

/**
 * What an operator runs: `status`, `--inspect` / ENGINE_LINK_INSPECT, catch-up progress (a bar on a
 * terminal, log lines otherwise), `--help`. Real processes, real ports; every wait is for a line, an
 * event or an exit.
 */
const running: CliProcess[] = [];
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const p = runCli(args, env);
  running.push(p);
  return p;
}

/** Resolves with the text read from `stream` so far once it matches `pattern`. */
function waitForOutput(stream: Readable, pattern: RegExp, what = `${pattern}`): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      if (!pattern.test(text)) return;
      stream.off('data', onData);
      stream.off('end', onEnd);
      resolve(text);
    };
    const onEnd = () => reject(new Error(`output ended before ${what}:\n${text}`));
    stream.on('data', onData);
    stream.on('end', onEnd);
  });
}

async function startAggregator(extra: string[] = []): Promise<{ p: CliProcess; url: string; wsUrl: string }> {
  const p = start(['aggregator', '--port', '0', '--db', tempDbPath(), '--log-level', 'warn', ...extra]);
  const url = /listening on (http:\/\/\S+)/.exec(await p.waitForLine(/listening on/))![1]!;
  return { p, url, wsUrl: url.replace('http', 'ws') };
}

/** Resolves when the aggregator's event stream carries an event matching `pattern`. */
async function nextServerEvent(url: string, pattern: RegExp): Promise<string> {
  const controller = new AbortController();
  const response = await fetch(`${url}/api/events`, { signal: controller.signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  try {
    while (!pattern.test(text)) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`event stream ended before ${pattern}`);
      text += chunk.value;
    }
    return pattern.exec(text)![0];
  } finally {
    controller.abort();
  }
}

describe('engine-link status', () => {
  it('prints engines and runs as tables, and as JSON with --json', async () => {
    const aggregator = await startAggregator();
    start([
      'engine',
      '--aggregator',
      aggregator.wsUrl,
      '--id',
      'status-1',
      '--simulate',
      '--rate',
      '20',
      '--run-seconds',
      '0.2',
      '--log-level',
      'warn',
    ]);
    await nextServerEvent(aggregator.url, /event: run\ndata: [^\n]*"state":"completed"/);

    const table = start(['status', '--aggregator', aggregator.url]);
    expect(await table.exited, table.stderr()).toBe(0);
    const text = table.lines.join('\n');
    expect(table.lines[0]).toBe('Engines');
    expect(table.lines[1]).toMatch(
      /^ENGINE\s+LINK\s+SINCE\s+RECORDS\s+BACKLOG\s+LAST SEEN\s+HARDWARE\s+RUN$/,
    );
    expect(table.lines[2]).toMatch(/^status-1\s+available\s+\d\d:\d\d:\d\d \(\S+\)\s+[\d,]+\s+\S+ ago\s+-/);
    expect(text).toMatch(
      /Runs \(newest first; start and end are engine times\)\nRUN\s+ENGINE\s+STATE\s+METHOD/,
    );
    expect(text).toMatch(
      /\nstatus-1-\S+\s+status-1\s+completed\s+simulated-method\s+\d\d:\d\d:\d\d\s+\d\d:\d\d:\d\d\s+\d+ms\s+\d+/,
    );

    const json = start(['status', '--aggregator', aggregator.wsUrl, '--json', '--runs', '1']);
    expect(await json.exited).toBe(0);
    const report = JSON.parse(json.lines.join('\n'));
    expect(report.engines).toEqual([expect.objectContaining({ id: 'status-1', link: 'available' })]);
    expect(report.runs).toHaveLength(1);
    expect(report.runs[0]).toMatchObject({ engineId: 'status-1', startedAt: expect.any(Number) });
    expect(report.hardware).toEqual({ 'status-1': {} });
  });

  it('says so and exits 1 when the aggregator cannot be reached', async () => {
    const p = start(['status', '--aggregator', 'http://127.0.0.1:1']);
    const bad = start(['status', '--aggregator', 'ftp://example']);
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toBe(
      'engine-link status: cannot reach the aggregator at http://127.0.0.1:1: connection refused\n',
    );
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(
      /--aggregator must be a URL starting with http:\/\/, https:\/\/, ws:\/\/ or wss:\/\/, not ftp:\/\//,
    );
  });
});

describe('the aggregator serves the dashboard', () => {
  it('at /, and says where', async () => {
    const aggregator = await startAggregator();
    expect(await aggregator.p.waitForLine(/^dashboard: /)).toBe(`dashboard: ${aggregator.url}/`);
    const page = await fetch(`${aggregator.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>engine-link · aggregator</title>');
  });
});

describe('--inspect and ENGINE_LINK_INSPECT', () => {
  it("send every machine's inspection events to the receiver, from the aggregator and the engine", async () => {
    const receiver = await InspectionReceiver.start();
    cleanup.push(() => receiver.close());
    const aggregator = await startAggregator(['--inspect', receiver.url]);
    start(
      [
        'engine',
        '--aggregator',
        aggregator.wsUrl,
        '--id',
        'insp-cli',
        '--simulate',
        '--rate',
        '5',
        '--run-seconds',
        '0.2',
      ],
      { ENGINE_LINK_INSPECT: receiver.url },
    );
    await receiver.until('engineLink, engineSession and runReconciliation actors', () =>
      ['engineLink', 'engineSession', 'runReconciliation'].every(
        (name) => receiver.sessionsOf(name).length > 0,
      ),
    );
    await receiver.until('a run completed', () =>
      receiver
        .sessionsOf('runReconciliation')
        .some((id) => receiver.of(id, '@xstate.snapshot').some((e) => e.snapshot?.value === 'completed')),
    );
  });

  it('refuse a target that is not a WebSocket URL', async () => {
    const p = start(['aggregator', '--port', '0', '--db', ':memory:', '--inspect', 'http://localhost:8090']);
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(
      /--inspect must be a URL starting with ws:\/\/ or wss:\/\/, not http:\/\/ \(got "http:\/\/localhost:8090"\)/,
    );
  });
});

describe('catch-up progress', () => {
  /** An engine whose link is refused until the test restores it: it builds a backlog meanwhile. */
  async function refusedLink(): Promise<{ proxy: FaultProxy; url: string }> {
    const aggregator = await startAggregator();
    const proxy = new FaultProxy({ host: '127.0.0.1', port: Number(new URL(aggregator.url).port) });
    const { port } = await proxy.start();
    cleanup.push(() => proxy.close());
    proxy.refuse();
    return { proxy, url: `ws://127.0.0.1:${port}` };
  }

  const engineArgs = (url: string) => [
    'engine',
    '--aggregator',
    url,
    '--id',
    'catcher',
    '--simulate',
    '--rate',
    '4000',
    '--progress-ms',
    '100',
  ];

  it('is plain structured log lines when the output is not a terminal', async () => {
    const { proxy, url } = await refusedLink();
    const engine = start(engineArgs(url));
    await engine.waitForLine(/"lastSeq":(\d{4,})/);
    const caughtUp = waitForOutput(engine.child.stderr, /"catchUp":"done"[^\n]*\n/, 'the catch-up summary');
    proxy.restore();
    const lines = (await caughtUp)
      .split('\n')
      .filter((line) => line.includes('"catchUp"'))
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ catchUp: 'started', msg: 'catch-up started' });
    const done = lines.at(-1)!;
    expect(done).toMatchObject({
      catchUp: 'done',
      sent: done.total,
      msg: expect.stringMatching(/^caught up: [\d,]+ records in /),
    });
    expect(done.total).toBeGreaterThanOrEqual(1000);
    expect(engine.stderr()).not.toContain('\r');
  });

  it('is a bar redrawn in place on a terminal', async () => {
    const { proxy, url } = await refusedLink();
    // `script` gives the engine a pseudo-terminal, as when a person runs it.
    const command = [process.execPath, CLI_FROM_SOURCE, ...engineArgs(url)]
      .map((arg) => `'${arg}'`)
      .join(' ');
    const child: ChildProcess = spawn('script', ['-qfec', command, '/dev/null'], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    cleanup.push(() => {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    });
    await waitForOutput(child.stdout!, /"lastSeq":\d{4,}/, 'a backlog');
    const caughtUp = waitForOutput(
      child.stdout!,
      /caught up: [\d,]+ records in [^\n]+\n/,
      'the catch-up summary',
    );
    proxy.restore();
    const screen = await caughtUp;
    // Each redraw returns to the start of the line and clears it (carriage return, ESC [2K).
    expect(screen).toContain('\r\u001b[2Kcatching up [');
    expect(screen).toMatch(/catching up \[█+░*\] +\d+% +[\d,]+\/[\d,]+ records +[\d,…]+ rec\/s/);
    expect(screen).toMatch(/catching up \[█+\] 100% +([\d,]+)\/\1 records/);
  });
});

describe('--help', () => {
  it('is on every command, with the options and their defaults', async () => {
    const usage = (command: string) => {
      const p = start([command, '--help']);
      return p.exited.then((code) => ({ command, code, text: p.lines.join('\n') }));
    };
    const helps = await Promise.all(['status', 'inspector', 'aggregator', 'engine', 'demo'].map(usage));
    for (const { command, code, text } of helps) {
      expect(code, command).toBe(0);
      expect(text, command).toMatch(new RegExp(`^Usage: engine-link ${command}`));
      expect(text, command).toMatch(/\(default: /);
      if (command !== 'status' && command !== 'inspector')
        expect(text, command).toMatch(/--inspect \[<url>\]\s+send every state machine's inspection events/);
    }
    const overview = start(['--help']);
    expect(await overview.exited).toBe(0);
    expect(overview.lines.join('\n')).toMatch(/status\s+print an aggregator's engines and runs/);
  });
});

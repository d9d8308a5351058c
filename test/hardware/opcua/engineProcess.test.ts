import { type AddressInfo, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../src/aggregator/store/sqliteStore.ts';
import type { HardwareStateValue } from '../../../src/hardware/reportHardwareState.ts';
import { type CliProcess, runCli } from '../../support/childProcess.ts';
import { tempDbPath } from '../../support/tempDb.ts';
import { SimProcess, tempDir } from './support.ts';

/**
 * `engine-link engine --opcua` as a user runs it: the aggregator, the OPC UA simulator and the engine,
 * each its own process over real sockets. The simulator starts after the engine, is killed and
 * restarted; the hardware state
 * reaches the aggregator (its API and its store), an operator's setpoint sent while the server is down
 * is written once when it is back, and the store holds what the engine says it produced.
 */
const running: CliProcess[] = [];
let sim: SimProcess | undefined;
afterEach(async () => {
  await sim?.kill();
  for (const p of running.splice(0))
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const p = runCli(args, env);
  running.push(p);
  return p;
}

type Telemetry = {
  tags: Record<string, { points: Array<[number, number]> } | undefined>;
  states: Record<string, { value: HardwareStateValue } | undefined>;
};

/** Polls `read` (HTTP, real time) until `accept` holds; the test timeout bounds it. */
async function poll<T>(read: () => Promise<T>, accept: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A port nothing listens on now (the system's pick, released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function command(url: string, engineId: string, name: string, args: unknown) {
  const response = await fetch(`${url}/api/engines/${engineId}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, args }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('engine --opcua, each program its own process', () => {
  it('reports the hardware state to the aggregator through a server kill and restart; a setpoint sent meanwhile is written once', async () => {
    const db = tempDbPath();
    const aggregator = start(['aggregator', '--port', '0', '--db', db, '--log-level', 'warn']);
    const url = /listening on (http:\/\/\S+)/.exec(await aggregator.waitForLine(/listening on/))![1]!;
    // The engine starts before its OPC UA server: it keeps trying, and reports the hardware disconnected.
    sim = new SimProcess();
    sim.port = await freePort();
    const engine = start([
      'engine',
      ...['--aggregator', url.replace('http', 'ws'), '--id', 'reactor-1', '--simulate', '--rate', '20'],
      ...['--opcua', sim.url, '--opcua-pki', tempDir('engine-pki'), '--opcua-read-ms', '200'],
      ...['--opcua-keepalive-ms', '500', '--opcua-reconnect-after-ms', '300', '--log-level', 'warn'],
    ]);
    const telemetry = () =>
      fetch(`${url}/api/engines/reactor-1/telemetry`).then((r) =>
        r.ok ? (r.json() as Promise<Telemetry>) : undefined,
      );
    const hardwareState = (t: Telemetry | undefined) => t?.states['hardware.opcua']?.value.state;

    await poll(telemetry, (t) => hardwareState(t) === 'disconnected');
    await sim.start();

    // Connected: the state and the OPC UA tags reach the aggregator.
    await poll(
      telemetry,
      (t) => hardwareState(t) === 'ok' && t!.tags['opcua.jacketTemperature'] !== undefined,
    );
    const written = await command(url, 'reactor-1', 'write', { register: 'setpoint', value: 42 });
    expect(written).toMatchObject({
      status: 200,
      body: { ok: true, result: { value: 42, state: 'ok', pending: false } },
    });
    await sim.nextWrite('Setpoint', 42);

    // The server dies: the engine masks, then reconnects; the aggregator sees it.
    await sim.kill();
    await poll(telemetry, (t) => hardwareState(t) === 'reconnect');
    const pending = await command(url, 'reactor-1', 'write', { register: 'setpoint', value: 43 });
    expect(pending).toMatchObject({
      status: 200,
      body: { ok: true, result: { value: 43, state: 'reconnect', pending: true } },
    });
    const refused = await command(url, 'reactor-1', 'write', { register: 'jacketTemperature', value: 1 });
    expect(refused).toMatchObject({ status: 422, body: { code: 'not-writable' } });

    // It comes back on the same port: ok again, and the setpoint is written once.
    await sim.start();
    await poll(telemetry, (t) => hardwareState(t) === 'ok');
    expect(await sim.nextWrite('Setpoint', 43)).toMatchObject({ count: 1 });
    await command(url, 'reactor-1', 'write', { register: 'pumpSpeed', value: 140 });
    await sim.nextWrite('PumpSpeed', 140);
    expect(sim.writes('Setpoint').map((w) => w.value)).toEqual([43]);
    // The engine reads it back from the server and samples it.
    await poll(telemetry, (t) => t?.tags['opcua.setpoint']?.points.at(-1)?.[1] === 43);

    // The engine stops: it disconnects its hardware, drains, and says what it produced.
    engine.child.kill('SIGTERM');
    const final = JSON.parse(await engine.waitForLine(/^\{"engineId"/)) as Record<string, number>;
    expect(await engine.exited).toBe(0);
    expect(final).toMatchObject({ dropped: 0, backlog: 0 });
    expect(final.acked).toBe(final.lastSeq);
    aggregator.child.kill('SIGTERM');
    expect(await aggregator.exited).toBe(0);

    const store = new SqliteStore(db);
    try {
      const records = store.records('reactor-1');
      expect(records).toHaveLength(final.lastSeq!);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: final.lastSeq! }, (_, i) => i + 1));
      const states = records
        .filter((r) => r.key === 'hardware.opcua')
        .map((r) => (r.value as HardwareStateValue).state);
      expect(states).toEqual(['disconnected', 'ok', 'issue', 'reconnect', 'ok', 'disconnected']);
      expect(records.some((r) => r.kind === 'sample' && r.key === 'opcua.setpoint' && r.value === 43)).toBe(
        true,
      );
    } finally {
      store.close();
    }
  }, 120_000);

  it('opcua-sim and engine --opcua explain themselves and refuse bad options with a clear message', async () => {
    const help = start(['opcua-sim', '--help']);
    expect(await help.exited).toBe(0);
    expect(help.lines.join('\n')).toMatch(
      /Usage: engine-link opcua-sim[\s\S]*--port <port>.*\(default: 4840; 0-65535\)/,
    );
    const cases: Array<[string[], RegExp]> = [
      [['opcua-sim', '--user', 'alice'], /--user must be NAME:PASSWORD/],
      [['opcua-sim', '--port', '70000'], /--port must be a whole number from 0 to 65535/],
      [
        ['engine', '--id', 'x', '--simulate', '--opcua', 'http://plc:4840'],
        /--opcua must be a URL starting with opc\.tcp:\/\/, not http:\/\//,
      ],
      [
        ['engine', '--id', 'x', '--simulate', '--opcua', 'opc.tcp://plc:4840', '--opcua-security', 'Encrypt'],
        /--opcua-security must be one of None, Sign, SignAndEncrypt/,
      ],
      [
        ['engine', '--id', 'x', '--simulate', '--opcua', 'opc.tcp://plc:4840', '--opcua-user', 'bob'],
        /--opcua-user needs a password/,
      ],
    ];
    for (const [args, message] of cases) {
      const p = start(args, { ENGINE_LINK_OPCUA_PASSWORD: '' });
      expect(await p.exited, args.join(' ')).toBe(2);
      expect(p.stderr()).toMatch(message);
    }
  });

  it('a configuration error (credentials the server refuses) stops the engine at once with a clear message', async () => {
    sim = new SimProcess();
    await sim.start();
    const engine = start(
      [
        'engine',
        '--id',
        'reactor-2',
        '--simulate',
        '--opcua',
        sim.url,
        '--opcua-user',
        'mallory',
        '--opcua-pki',
        tempDir('engine-pki'),
      ],
      { ENGINE_LINK_OPCUA_PASSWORD: 'guess', ENGINE_LINK_SECRET: '' },
    );
    expect(await engine.exited).toBe(1);
    // One line, no stack trace.
    expect(engine.stderr()).toMatch(
      /^engine-link engine: OPC UA: cannot connect to .*BadUserAccessDenied.*$/m,
    );
    expect(engine.stderr()).not.toMatch(/\n\s+at /);
  });
});

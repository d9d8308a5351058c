import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Aggregator, type AggregatorEvents } from '../../src/aggregator/aggregator.ts';
import { API_TOKEN_COOKIE } from '../../src/aggregator/auth/apiAuth.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import type { CloseInfo } from '../../src/transport/transport.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { cliProcesses } from '../support/childProcess.ts';
import { tempDbPath } from '../support/tempDb.ts';
import { nextEvent } from '../support/until.ts';

/**
 * `https://` and `wss://` with a certificate given on the command line (a self-signed one made here with
 * openssl), engines trusting it through `ca` / `--ca`.
 */

let dir: string;
let certPath: string;
let keyPath: string;
let cert: Buffer;
let key: Buffer;

beforeAll(() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(
      `these tests make a self-signed certificate with openssl, which is not available: ${(error as Error).message}. ` +
        'Install it (Debian: apt-get install openssl).',
    );
  }
  dir = mkdtempSync(join(tmpdir(), 'engine-link-tls-'));
  certPath = join(dir, 'cert.pem');
  keyPath = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=localhost'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ],
    { stdio: 'pipe' },
  );
  cert = readFileSync(certPath);
  key = readFileSync(keyPath);
});

const cleanups: Array<() => Promise<void>> = [];
const { start } = cliProcesses();
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function httpsJson(url: string, options: { ca?: Buffer; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      httpsGet(url, { ca: options.ca, headers: options.headers }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      }).on('error', reject);
    },
  );
}

async function tlsAggregator(apiToken?: string) {
  const store = new SqliteStore(':memory:');
  const aggregator = new Aggregator({
    store,
    secret: 'tls-secret',
    heartbeatMs: 200,
    heartbeatTimeoutMs: 1000,
  });
  const server: AggregatorServer = await startAggregatorServer({
    aggregator,
    port: 0,
    tls: { cert, key },
    apiToken,
    headersTimeoutMs: 500,
  });
  cleanups.push(async () => {
    await server.close();
    await aggregator.close();
  });
  return { store, aggregator, server };
}

describe('TLS', () => {
  it('serves wss:// to an engine that trusts the certificate; every record arrives once', async () => {
    const { store, server } = await tlsAggregator();
    expect(server.url).toMatch(/^https:\/\//);
    expect(server.wsUrl).toMatch(/^wss:\/\//);
    const engine = new ResilientDispatcher({
      engineId: 'tls-1',
      token: 'tls-secret',
      connector: new WebSocketConnector(server.wsUrl, { ca: cert }),
    });
    cleanups.push(() => engine.close());
    for (let i = 0; i < 500; i++) engine.send({ kind: 'sample', tag: 't', value: i });
    expect(await engine.drain(10_000)).toBe(true);
    const rows = store.records('tls-1', { epoch: engine.stats.epoch });
    expect(rows.map((r) => r.value)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it('an engine that does not trust the certificate never connects, and says why', async () => {
    const { aggregator, server } = await tlsAggregator();
    const connections: AggregatorEvents['connection'][0][] = [];
    aggregator.on('connection', (c) => connections.push(c));
    const transport = new WebSocketConnector(server.wsUrl).connect({
      engineId: 'untrusting',
      token: 'tls-secret',
    });
    const info = await nextEvent<CloseInfo>(transport, 'close');
    expect(info.refused?.message).toMatch(/self[- ]signed certificate/);
    // Plain ws:// to the TLS port gets nowhere either.
    const plain = new WebSocketConnector(server.wsUrl.replace('wss:', 'ws:')).connect({
      engineId: 'plain',
      token: 'tls-secret',
    });
    expect((await nextEvent<CloseInfo>(plain, 'close')).code).toBe(1006);
    expect(connections).toEqual([]);
  });

  it('serves the API over https, the API-token cookie marked Secure', async () => {
    const { server } = await tlsAggregator('api-tls');
    expect((await httpsJson(`${server.url}/healthz`, { ca: cert })).status).toBe(200);
    expect((await httpsJson(`${server.url}/api/engines`, { ca: cert })).status).toBe(401);
    const byQuery = await httpsJson(`${server.url}/api/engines?token=api-tls`, { ca: cert });
    expect(byQuery.status).toBe(200);
    expect(byQuery.headers['set-cookie']).toEqual([
      `${API_TOKEN_COOKIE}=api-tls; Path=/; HttpOnly; SameSite=Strict; Secure`,
    ]);
    await expect(httpsJson(`${server.url}/healthz`)).rejects.toThrow(/self[- ]signed certificate/);
  });

  it('drops a client that opens TCP and never starts the TLS handshake', async () => {
    const { server } = await tlsAggregator();
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    const started = Date.now();
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const afterMs = Date.now() - started;
    expect(afterMs).toBeGreaterThanOrEqual(400);
    // Node's own default TLS handshake timeout is 120 s: only the configured 500 ms explains this.
    expect(afterMs).toBeLessThan(10_000);
  });

  it('an engine given ws:// for a TLS aggregator is told to use wss:// (item 13)', async () => {
    const aggregator = start([
      'aggregator',
      ...['--port', '0', '--db', tempDbPath(), '--log-level', 'warn', '--cert', certPath, '--key', keyPath],
    ]);
    const [, wssUrl] = /\(engines: (wss:\/\/\S+)\)/.exec(await aggregator.waitForLine(/listening on/))!;
    const engine = start([
      'engine',
      '--aggregator',
      wssUrl!.replace('wss:', 'ws:'),
      '--id',
      'plain-1',
      '--simulate',
    ]);
    for (;;) {
      if (/link down/.test(engine.stderr())) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(engine.stderr()).toMatch(
      /link down \(refused: [^)]*\(if the aggregator serves TLS, connect with wss:\/\/ instead of ws:\/\/\)\)/,
    );
  });

  it('from the command line: aggregator --cert --key, engine --ca', async () => {
    const aggregator = start([
      'aggregator',
      ...['--port', '0', '--db', tempDbPath(), '--log-level', 'warn'],
      ...['--cert', certPath, '--key', keyPath, '--secret', 'cli-tls'],
    ]);
    const line = await aggregator.waitForLine(/listening on/);
    const [, url, wsUrl] = /listening on (https:\/\/\S+) \(engines: (wss:\/\/\S+)\)/.exec(line)!;
    const engine = start([
      'engine',
      ...['--aggregator', wsUrl!, '--id', 'cli-tls-1', '--secret', 'cli-tls', '--ca', certPath],
      ...['--simulate', '--rate', '200', '--log-level', 'warn'],
    ]);
    // Poll the API (bounded by the test timeout) until the engine has persisted something.
    for (;;) {
      const engines = JSON.parse((await httpsJson(`${url}/api/engines`, { ca: cert })).body) as Array<{
        id: string;
        persistedSeq: number;
      }>;
      if ((engines.find((e) => e.id === 'cli-tls-1')?.persistedSeq ?? 0) > 50) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    engine.child.kill('SIGTERM');
    const final = JSON.parse(await engine.waitForLine(/^\{"engineId"/)) as Record<string, number>;
    expect(final).toMatchObject({ engineId: 'cli-tls-1', backlog: 0, dropped: 0 });
    expect(final.acked).toBe(final.lastSeq);
  });
});

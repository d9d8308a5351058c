import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { sendJson } from '../../src/aggregator/http/router.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { CloseCode } from '../../src/protocol/errors.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { HandEngine, samples } from './support.ts';

describe('aggregator HTTP API', () => {
  let clock: SimulatedClock;
  let aggregator: Aggregator;
  let server: AggregatorServer;

  beforeEach(async () => {
    clock = new SimulatedClock();
    aggregator = new Aggregator({ store: new SqliteStore(':memory:'), clock });
    server = await startAggregatorServer({
      aggregator,
      port: 0,
      routes: [
        {
          method: 'GET',
          path: '/api/echo/:word',
          handler: ({ response, params }) => sendJson(response, 200, params),
        },
      ],
    });
  });
  afterEach(async () => {
    await server.close();
    await aggregator.close();
  });

  async function get(
    path: string,
    init?: RequestInit,
  ): Promise<{ status: number; headers: Headers; body: unknown }> {
    const response = await fetch(`${server.url}${path}`, init);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    return { status: response.status, headers: response.headers, body: await response.json() };
  }

  async function engineWithRecords(engineId: string): Promise<HandEngine> {
    const engine = new HandEngine(new WebSocketConnector(server.wsUrl).connect({ engineId }));
    await engine.opening();
    engine.hello(engineId, 'ep1', 4);
    engine.records(1, samples(4));
    expect((await engine.nth('ack', 1)).seq).toBe(4);
    return engine;
  }

  it('listens where it says', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.wsUrl).toBe(`ws://127.0.0.1:${server.port}`);
  });

  it('GET /healthz answers ok', async () => {
    expect(await get('/healthz')).toMatchObject({ status: 200, body: { ok: true } });
  });

  it('GET /api/engines lists engine views, and /api/engines/:id shows one', async () => {
    expect((await get('/api/engines')).body).toEqual([]);
    await engineWithRecords('eng:1');
    const expected = {
      id: 'eng:1',
      link: 'available',
      since: clock.now(),
      epoch: 'ep1',
      persistedSeq: 4,
      targetSeq: 4,
      persistedCount: 4,
      duplicatesIgnored: 0,
      gaps: [],
      lastSeenAt: clock.now(),
    };
    expect(await get('/api/engines')).toMatchObject({ status: 200, body: [expected] });
    expect(await get(`/api/engines/${encodeURIComponent('eng:1')}`)).toMatchObject({
      status: 200,
      body: expected,
    });
  });

  it('answers 404 for an unknown engine or route, 405 for a wrong method', async () => {
    expect(await get('/api/engines/nobody')).toMatchObject({
      status: 404,
      body: { error: 'unknown-engine', engineId: 'nobody' },
    });
    expect(await get('/api/nothing-here')).toMatchObject({
      status: 404,
      body: { error: 'not-found', path: '/api/nothing-here' },
    });
    const wrongMethod = await get('/api/engines', { method: 'POST', body: '{}' });
    expect(wrongMethod).toMatchObject({
      status: 405,
      body: { error: 'method-not-allowed', allow: ['GET', 'HEAD'] },
    });
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
  });

  it('serves extra routes given to the server', async () => {
    expect(await get('/api/echo/hello%20world')).toMatchObject({
      status: 200,
      body: { word: 'hello world' },
    });
  });

  it('refuses a WebSocket upgrade on any other path with 404', async () => {
    const socket = new WebSocket(`${server.wsUrl}/not/a/link`);
    const status = await new Promise<number>((resolve, reject) => {
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.on('open', () => reject(new Error('the upgrade was accepted')));
      socket.on('error', () => {});
    });
    socket.terminate();
    expect(status).toBe(404);
  });

  it('closes engine links with 1001 when the server stops', async () => {
    const engine = await engineWithRecords('eng-1');
    await server.close();
    expect((await engine.closed()).code).toBe(CloseCode.GoingAway);
    expect(aggregator.engine('eng-1')?.link).toBe('unavailable');
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import type { AsyncStore } from '../../src/aggregator/store/asyncStore.ts';
import {
  AuthRejectedError,
  type EngineLinkState,
  ResilientDispatcher,
} from '../../src/engine/resilientDispatcher.ts';
import { FaultProxy } from '../../src/transport/faultProxy.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { STORE_BACKENDS, type StoreBackend } from '../aggregator/store/backends.ts';
import { nextEvent } from '../support/until.ts';

/**
 * The same promise over real WebSockets and a real TCP fault proxy on loopback, on either store (a SQLite
 * file, a PostgreSQL database). Real time, short heartbeats; every wait is for an event, never a fixed
 * sleep.
 */
const HEARTBEAT = { heartbeatMs: 100, heartbeatTimeoutMs: 400 };

interface WsRig {
  backend: StoreBackend;
  store: AsyncStore;
  aggregator: Aggregator;
  server: AggregatorServer;
  proxy: FaultProxy;
  engine: ResilientDispatcher;
}

const open: WsRig[] = [];

async function startAggregator(store: AsyncStore, port = 0, secret?: string) {
  const aggregator = new Aggregator({ store, secret, ...HEARTBEAT });
  await aggregator.ready;
  const server = await startAggregatorServer({ aggregator, port });
  return { store, aggregator, server };
}

async function wsRig(
  backend: StoreBackend,
  options: { secret?: string; token?: string } = {},
): Promise<WsRig> {
  const { store, aggregator, server } = await startAggregator(await backend.open(), 0, options.secret);
  const proxy = new FaultProxy({ host: '127.0.0.1', port: server.port });
  const { port } = await proxy.start();
  const engine = new ResilientDispatcher({
    engineId: 'ws-1',
    connector: new WebSocketConnector(`ws://127.0.0.1:${port}`, { handshakeTimeoutMs: 1000 }),
    token: options.token,
    heartbeatTimeoutMs: HEARTBEAT.heartbeatTimeoutMs,
    connectTimeoutMs: 1000,
    retry: { initialMs: 20, maxMs: 200 },
    outbox: { batchRecords: 200 },
  });
  const rig = { backend, store, aggregator, server, proxy, engine };
  open.push(rig);
  return rig;
}

afterEach(async () => {
  for (const r of open.splice(0)) {
    await r.engine.close();
    await r.proxy.close();
    await r.server.close();
    await r.aggregator.close();
    r.backend.cleanup();
  }
});

let counter = 0;
function produce(engine: ResilientDispatcher, n: number): void {
  for (let i = 0; i < n; i++)
    engine.send({ kind: 'sample', tag: `t${i % 3}`, value: counter++, unit: 'bar' });
}

const reach = (engine: ResilientDispatcher, state: EngineLinkState) =>
  engine.state === state
    ? Promise.resolve(state)
    : nextEvent<EngineLinkState>(engine, 'state', (s) => s === state);

async function expectExactlyOnce(r: WsRig, n: number): Promise<void> {
  const rows = await r.store.records('ws-1', { epoch: r.engine.stats.epoch });
  expect(rows.length).toBe(n);
  expect(rows.findIndex((row, i) => row.seq !== i + 1)).toBe(-1);
  expect(r.engine.stats).toMatchObject({ produced: n, acked: n, backlog: 0, dropped: 0 });
}

describe.each(STORE_BACKENDS)('lossless link over WebSocket on %s', (_name, makeBackend) => {
  const wsRigOn = (options?: { secret?: string; token?: string }) => wsRig(makeBackend(), options);

  it('persists a live stream exactly once, in order', async () => {
    const r = await wsRigOn();
    await reach(r.engine, 'connected');
    produce(r.engine, 10_000);
    expect(await r.engine.drain(10_000)).toBe(true);
    await expectExactlyOnce(r, 10_000);
  });

  it('recovers from connections reset mid-stream', async () => {
    const r = await wsRigOn();
    await reach(r.engine, 'connected');
    produce(r.engine, 3000);
    r.proxy.refuse();
    produce(r.engine, 3000);
    await reach(r.engine, 'buffering.waiting');
    produce(r.engine, 3000);
    r.proxy.restore();
    expect(await r.engine.drain(10_000)).toBe(true);
    await expectExactlyOnce(r, 9000);
  });

  it('keeps order through a slow link (200 ms added latency)', async () => {
    const r = await wsRigOn();
    await reach(r.engine, 'connected');
    r.proxy.delayMs = 200;
    produce(r.engine, 3000);
    await new Promise((resolve) => setImmediate(resolve));
    produce(r.engine, 3000);
    expect(await r.engine.drain(10_000)).toBe(true);
    await expectExactlyOnce(r, 6000);
  });

  it('notices a black-holed (half-open) link on both sides and loses nothing', async () => {
    const r = await wsRigOn();
    await reach(r.engine, 'connected');
    produce(r.engine, 1000);
    expect(await r.engine.drain(10_000)).toBe(true);
    const lostAtAggregator = nextEvent<{ engineId: string; link: string }>(
      r.aggregator,
      'engineState',
      (c) => c.link === 'unavailable',
    );
    const cutAt = Date.now();
    r.proxy.blackhole();
    produce(r.engine, 2000);
    await nextEvent<EngineLinkState>(r.engine, 'state', (s) => s.startsWith('buffering'));
    await lostAtAggregator;
    // Both sides noticed through their own heartbeat, not through any close.
    expect(Date.now() - cutAt).toBeLessThan(HEARTBEAT.heartbeatTimeoutMs * 5);
    r.proxy.restore();
    expect(await r.engine.drain(10_000)).toBe(true);
    await expectExactlyOnce(r, 3000);
  });

  it('resumes after an aggregator restart on the same store and port', async () => {
    const r = await wsRigOn();
    await reach(r.engine, 'connected');
    produce(r.engine, 2000);
    expect(await r.engine.drain(10_000)).toBe(true);
    const port = r.server.port;
    await r.server.close();
    await r.aggregator.close();
    await nextEvent<EngineLinkState>(r.engine, 'state', (s) => s.startsWith('buffering'));
    produce(r.engine, 2500);
    Object.assign(r, await startAggregator(await r.backend.reopen(), port));
    expect(await r.engine.drain(10_000)).toBe(true);
    await expectExactlyOnce(r, 4500);
  });

  it('a refused token gets a clear error; records are kept, the link tried again only slowly', async () => {
    const r = await wsRigOn({ secret: 'right', token: 'wrong' });
    const error = await nextEvent<Error>(r.engine, 'error');
    expect(error).toBeInstanceOf(AuthRejectedError);
    expect((error as AuthRejectedError).retryInMs).toBe(60_000);
    expect(error.message).toMatch(/aggregator refused engine ws-1: 401/);
    expect(r.engine.state).toBe('rejected');
    produce(r.engine, 10);
    expect(r.engine.stats.backlog).toBe(10);
    expect(await r.store.records('ws-1')).toEqual([]);
  });
});

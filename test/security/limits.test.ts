import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator, type AggregatorEvents } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { MAX_QUEUED_FRAMES } from '../../src/aggregator/session/frameIngest.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { CloseCode, ErrorCode, type ProtocolError } from '../../src/protocol/errors.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { Connector } from '../../src/transport/sides.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { HandEngine, samples } from '../aggregator/support.ts';
import { seededRandom } from '../support/seededRandom.ts';
import { until } from '../support/until.ts';

/**
 * The aggregator's limits: frame size, engines at once, records per frame, ingest rate per engine. Each,
 * when hit, gives a clear error (or a delay, for the rate), and loses nothing already accepted.
 */

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function memoryRig(options: Partial<ConstructorParameters<typeof Aggregator>[0]> = {}) {
  const clock = new SimulatedClock();
  const store = new SqliteStore(':memory:');
  const aggregator = new Aggregator({ store, clock, random: seededRandom(3), ...options });
  const network = new MemoryNetwork({ clock, maxFrameBytes: options.maxFrameBytes });
  network.listen(aggregator);
  closers.push(() => aggregator.close());
  return { clock, store, aggregator, network };
}

async function wsRig(options: Partial<ConstructorParameters<typeof Aggregator>[0]> = {}) {
  const store = new SqliteStore(':memory:');
  // A clock never advanced: no heartbeat interferes.
  const aggregator = new Aggregator({
    store,
    clock: new SimulatedClock(),
    random: seededRandom(3),
    ...options,
  });
  const server: AggregatorServer = await startAggregatorServer({ aggregator, port: 0 });
  closers.push(async () => {
    await server.close();
    await aggregator.close();
  });
  return { store, aggregator, server, connector: new WebSocketConnector(server.wsUrl) };
}

async function helloed(connector: Connector, engineId: string, lastSeq = 0): Promise<HandEngine> {
  const engine = new HandEngine(connector.connect({ engineId }));
  await engine.opening();
  engine.hello(engineId, 'ep', lastSeq);
  await engine.nth('welcome', 1);
  return engine;
}

function engineOn(connector: Connector, clock: SimulatedClock | undefined, engineId: string, extra = {}) {
  const engine = new ResilientDispatcher({
    engineId,
    connector,
    clock,
    random: seededRandom(11),
    retry: { initialMs: 100, maxMs: 1000 },
    ...extra,
  });
  closers.push(() => engine.close());
  return engine;
}

function produce(engine: ResilientDispatcher, n: number, from = 0): void {
  for (let i = 0; i < n; i++) engine.send({ kind: 'sample', tag: `t${i % 3}`, value: from + i });
}

function expectExactlyOnce(store: SqliteStore, engine: ResilientDispatcher, n: number): void {
  const rows = store.records(engine.engineId, { epoch: engine.stats.epoch });
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(rows.map((r) => r.value)).toEqual(Array.from({ length: n }, (_, i) => i));
  expect(engine.stats).toMatchObject({ produced: n, lastSeq: n, acked: n, dropped: 0 });
}

describe('maximum frame size', () => {
  it('over ws: an oversize frame closes the link with 1009; what was persisted stays, and the engine goes on', async () => {
    const { store, aggregator, connector } = await wsRig({ maxFrameBytes: 8 * 1024 });
    const errors: AggregatorEvents['protocolError'][0][] = [];
    aggregator.on('protocolError', (e) => errors.push(e));
    const first = await helloed(connector, 'big', 100);
    first.records(1, samples(10));
    expect((await first.nth('ack', 1)).seq).toBe(10);
    const oversize = samples(1000, 10);
    expect(JSON.stringify({ type: 'records', from: 11, items: oversize }).length).toBeGreaterThan(8 * 1024);
    first.records(11, oversize);
    expect((await first.closed()).code).toBe(CloseCode.MessageTooBig);
    expect(errors).toEqual([
      { engineId: 'big', code: ErrorCode.FrameTooLarge, message: 'frame exceeds the limit of 8192 bytes' },
    ]);
    expect(store.records('big').map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));

    // The engine comes back and sends the same records in frames under the limit: all stored once.
    const again = await helloed(connector, 'big', 1010);
    expect(again.last('welcome')?.ackSeq).toBe(10);
    for (let i = 0; i < 10; i++) again.records(11 + i * 100, oversize.slice(i * 100, (i + 1) * 100));
    expect((await again.ackAtLeast(1010)).seq).toBe(1010);
    expect(store.records('big').map((r) => r.value)).toEqual(Array.from({ length: 1010 }, (_, i) => i));
  });
});

describe('maximum engines', () => {
  it('refuses one engine too many at the upgrade with 503 and a jittered Retry-After; a reconnect always has its place', async () => {
    const { aggregator, connector } = await wsRig({ maxEngines: 2, busyRetryAfterMs: 2000 });
    const refused: AggregatorEvents['refused'][0][] = [];
    aggregator.on('refused', (r) => refused.push(r));
    const a = await helloed(connector, 'a');
    await helloed(connector, 'b');
    expect(aggregator.connectedEngines).toBe(2);

    const c = new HandEngine(connector.connect({ engineId: 'c' }));
    const info = await c.closed();
    expect(c.opened).toBe(false);
    expect(info.refused).toMatchObject({
      status: 503,
      message: 'the aggregator serves at most 2 engines at a time and all places are taken; try again later',
    });
    // Retry-After is whole seconds: between the configured wait and twice it.
    expect(info.refused?.retryAfterMs).toBeGreaterThanOrEqual(2000);
    expect(info.refused?.retryAfterMs).toBeLessThanOrEqual(4000);
    expect(refused).toEqual([{ engineId: 'c', status: 503, message: info.refused?.message }]);
    expect(aggregator.engine('c')).toBeUndefined();

    // Engine a reconnects (its new link replaces the old): not refused, though all places are taken.
    const a2 = await helloed(connector, 'a');
    expect((await a.error(ErrorCode.Replaced)).code).toBe(ErrorCode.Replaced);
    expect(aggregator.connectedEngines).toBe(2);

    // a leaves: c gets its place.
    a2.send({ type: 'bye' });
    await a2.closed();
    const c2 = await helloed(connector, 'c');
    expect(c2.opened).toBe(true);
    expect(refused).toHaveLength(1);
  });

  it('a refused engine honours Retry-After, buffers meanwhile, and delivers every record exactly once when let in', async () => {
    const { clock, store, aggregator, network } = memoryRig({ maxEngines: 1, busyRetryAfterMs: 5000 });
    const attempts: Array<{ at: number; ok: boolean; retryAfterMs?: number }> = [];
    aggregator.on('refused', () => attempts.push({ at: clock.now(), ok: false }));
    aggregator.on('connection', ({ engineId, at }) => {
      if (engineId === 'late') attempts.push({ at, ok: true });
    });
    const first = engineOn(network, clock, 'first');
    await until('first connected', () => first.state === 'connected', clock);
    const late = engineOn(network, clock, 'late');
    const retries: number[] = [];
    late.on('retry', ({ delayMs }) => retries.push(delayMs));
    produce(late, 500);
    await until('late refused twice', () => attempts.length >= 2, clock);
    // Each wait is at least the aggregator's Retry-After (5 s, jittered to at most 10 s), well above
    // the engine's own backoff (at most 1 s here).
    expect(retries[0]).toBeGreaterThanOrEqual(5000);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(5000);
    expect(late.state).toBe('buffering.waiting');

    await first.close();
    await until('late connected and drained', () => late.stats.acked === 500, clock);
    expect(attempts.at(-1)?.ok).toBe(true);
    expectExactlyOnce(store, late, 500);
  });
});

describe('maximum records per frame', () => {
  it('closes the link (1008) on a frame with too many records, stores nothing of it, keeps what was stored', async () => {
    for (const rig of [memoryRig({ maxRecordsPerFrame: 10 }), await wsRig({ maxRecordsPerFrame: 10 })]) {
      const connector = 'network' in rig ? rig.network : rig.connector;
      const engine = await helloed(connector, 'many', 30);
      engine.records(1, samples(10));
      expect((await engine.nth('ack', 1)).seq).toBe(10);
      engine.records(11, samples(11, 10));
      expect((await engine.error(ErrorCode.TooManyRecords)).message).toBe(
        'records frame of 11 items exceeds the limit of 10 per frame; nothing of it was stored: send at most that many items per frame',
      );
      expect((await engine.closed()).code).toBe(CloseCode.PolicyViolation);
      expect(rig.store.records('many').map((r) => r.seq)).toEqual(
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      expect(rig.aggregator.engine('many')).toMatchObject({ persistedSeq: 10, link: 'unavailable' });
    }
  });

  it('an engine whose batches fit is never refused; one whose batches do not is told why and keeps its records', async () => {
    const { clock, store, network } = memoryRig({ maxRecordsPerFrame: 50 });
    const fits = engineOn(network, clock, 'fits', { outbox: { batchRecords: 50 } });
    produce(fits, 2000);
    await until('drained', () => fits.stats.acked === 2000, clock);
    expectExactlyOnce(store, fits, 2000);

    const tooBig = engineOn(network, clock, 'too-big', { outbox: { batchRecords: 100 } });
    const errors: ProtocolError[] = [];
    tooBig.on('error', (e) => errors.push(e as ProtocolError));
    produce(tooBig, 150);
    await until('told', () => errors.length >= 2, clock);
    expect(errors[0]?.code).toBe(ErrorCode.TooManyRecords);
    // Nothing was stored, and nothing was dropped: every record is still in the engine's outbox.
    expect(store.records('too-big')).toEqual([]);
    expect(tooBig.stats).toMatchObject({ produced: 150, acked: 0, dropped: 0, backlog: 150 });
  });
});

describe('per-engine ingest rate', () => {
  it('over the rate, acknowledgements wait: the engine slows down through its window, loses and drops nothing', async () => {
    const rate = 200;
    const { clock, store, aggregator, network } = memoryRig({ maxIngestRate: rate });
    const persisted: Array<{ at: number; seq: number }> = [];
    aggregator.on('persisted', ({ seq }) => persisted.push({ at: clock.now(), seq }));
    const engine = engineOn(network, clock, 'fast', {
      outbox: { batchRecords: 20 },
      heartbeatTimeoutMs: 3000,
    });
    const lost: string[] = [];
    engine.on('retry', () => lost.push('retry'));
    engine.on('error', (e) => lost.push(e.message));
    await until('connected', () => engine.state === 'connected', clock);
    const start = clock.now();
    produce(engine, 3000);
    await until('drained', () => engine.stats.acked === 3000, clock, { stepMs: 50, maxSteps: 10_000 });
    const elapsed = clock.now() - start;

    expectExactlyOnce(store, engine, 3000);
    expect(lost).toEqual([]);
    // 3000 records at 200/s, a burst of 200 and one frame (20) of debt: at least 13.9 s of aggregator time.
    expect(elapsed).toBeGreaterThanOrEqual(((3000 - rate - 20) / rate) * 1000);
    // At no moment was more persisted than the bucket allows (one frame of debt at most).
    for (const { at, seq } of persisted)
      expect(seq).toBeLessThanOrEqual(rate + ((at - start) * rate) / 1000 + 20);
    // The engine stayed connected all along (the heartbeat kept flowing while acks waited).
    expect(engine.state).toBe('connected');
  });

  it('a flood beyond the waiting room is told busy (retryAfterMs) and closed with 1013; only what was acked is stored', async () => {
    const { clock, store, network } = memoryRig({ maxIngestRate: 10, busyRetryAfterMs: 3000 });
    const flood = await helloed(network, 'flood', 1000);
    for (let i = 0; i < 40; i++) flood.records(1 + i * 10, samples(10, i * 10));
    const busy = await flood.error(ErrorCode.Busy);
    expect(busy.retryAfterMs).toBe(3000);
    expect(busy.message).toMatch(/over the ingest rate of 10 records\/s with 32 frames already waiting/);
    expect((await flood.closed()).code).toBe(CloseCode.TryAgainLater);
    // Two frames passed at once (the burst of 10, then one frame of debt); the next MAX_QUEUED_FRAMES
    // waited, and went when the link was closed: never acknowledged, so the engine still has them.
    expect(MAX_QUEUED_FRAMES).toBe(32);
    expect(flood.all('ack').map((a) => a.seq)).toEqual([10, 20]);
    await clock.advance(60_000);
    expect(store.records('flood').map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('frames waiting for the rate are stored when the engine says bye', async () => {
    const { store, network } = memoryRig({ maxIngestRate: 10 });
    const engine = await helloed(network, 'leaving', 50);
    for (let i = 0; i < 5; i++) engine.records(1 + i * 10, samples(10, i * 10));
    await engine.nth('ack', 2);
    expect(store.records('leaving')).toHaveLength(20);
    engine.send({ type: 'bye' });
    expect((await engine.closed()).code).toBe(CloseCode.Normal);
    // Cumulative acknowledgements at frame boundaries, the last for everything; the frames stored at the
    // goodbye share one commit and so one acknowledgement.
    const acks = engine.all('ack').map((a) => a.seq);
    expect(acks.slice(0, 2)).toEqual([10, 20]);
    expect(acks.at(-1)).toBe(50);
    for (const seq of acks) expect(seq % 10).toBe(0);
    expect(acks).toEqual([...acks].sort((a, b) => a - b));
    expect(store.records('leaving').map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});

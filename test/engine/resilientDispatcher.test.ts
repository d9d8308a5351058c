import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import {
  ResilientDispatcher,
  type ResilientDispatcherOptions,
} from '../../src/engine/resilientDispatcher.ts';
import { InvalidRecordError } from '../../src/protocol/records.ts';
import { SimulatedClock, settle } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { Acceptor, AggregatorTransport } from '../../src/transport/sides.ts';
import { seededRandom } from '../support/seededRandom.ts';
import { until } from '../support/until.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setup(options: Partial<ResilientDispatcherOptions> = {}, withAggregator = true) {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const aggregator = withAggregator
    ? new Aggregator({ store: new SqliteStore(':memory:'), clock })
    : undefined;
  network.listen(aggregator);
  const engine = new ResilientDispatcher({
    engineId: 'e1',
    connector: network,
    clock,
    random: seededRandom(1),
    ...options,
  });
  cleanups.push(async () => {
    await engine.close();
    await aggregator?.close();
  });
  return { clock, network, aggregator, engine };
}

describe('ResilientDispatcher', () => {
  it('accepts records at once, numbered, with no aggregator anywhere', async () => {
    const { engine, clock } = setup({}, false);
    for (let i = 0; i < 100; i++) engine.send({ kind: 'sample', tag: 'T', value: i });
    expect(engine.stats).toMatchObject({ produced: 100, lastSeq: 100, acked: 0, backlog: 100 });
    await clock.advance(60_000);
    expect(engine.state).toMatch(/^buffering/);
    expect(engine.stats.backlog).toBe(100);
  });

  it('refuses an invalid record with a clear error and assigns it no sequence number', () => {
    const { engine } = setup({}, false);
    engine.send({ kind: 'event', name: 'ok' });
    expect(() => engine.send({ kind: 'sample', tag: 'T', value: Number.POSITIVE_INFINITY })).toThrow(
      InvalidRecordError,
    );
    expect(() => engine.send({ kind: 'event', name: 'big', data: 'x'.repeat(2_000_000) })).toThrow(
      /exceeds the frame limit/,
    );
    engine.send({ kind: 'event', name: 'ok' });
    expect(engine.stats.lastSeq).toBe(2);
  });

  it('abandons a connection attempt that hangs, after connectTimeoutMs', async () => {
    const { engine, network, clock } = setup({ connectTimeoutMs: 2000 });
    network.blackhole();
    const reasons: string[] = [];
    engine.on('retry', ({ reason }) => reasons.push(reason));
    await clock.advance(1999);
    expect(engine.state).toBe('connecting.opening');
    await clock.advance(1);
    expect(engine.state).toBe('buffering.waiting');
    expect(reasons).toEqual(['no answer within 2000 ms']);
  });

  it('honours retryAfterMs from a refusing aggregator', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock });
    let attempts = 0;
    const busy: Acceptor = {
      authorize: () => {
        attempts++;
        return { ok: false, status: 503, message: 'busy', retryAfterMs: 7000 };
      },
      accept: () => {},
    };
    network.listen(busy);
    const delays: number[] = [];
    const reasons: string[] = [];
    const engine = new ResilientDispatcher({ engineId: 'e1', connector: network, clock, random: () => 0 });
    cleanups.push(() => engine.close());
    engine.on('retry', ({ delayMs, reason }) => {
      delays.push(delayMs);
      reasons.push(reason);
    });
    await clock.advance(6999);
    expect(attempts).toBe(1);
    expect(delays).toEqual([7000]);
    expect(reasons).toEqual(['refused (503): busy']);
    await clock.advance(1);
    expect(attempts).toBe(2);
  });

  it('backs off exponentially while the aggregator refuses connections', async () => {
    const { engine, network, clock } = setup({ random: () => 1 });
    network.refuseConnects();
    const delays: number[] = [];
    engine.on('retry', ({ delayMs }) => delays.push(delayMs));
    await clock.advance(60_000);
    expect(delays.slice(0, 7)).toEqual([1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  });

  it('declares a silent link dead within heartbeatTimeoutMs of the last ping it heard', async () => {
    const { engine, network, clock } = setup({ heartbeatTimeoutMs: 3000 });
    await until('connected', () => engine.state === 'connected', clock);
    await clock.advance(2500); // pings arrive every second
    network.blackhole();
    const cutAt = clock.now();
    let detectedAt = 0;
    engine.on('state', (s) => {
      if (s === 'buffering.waiting' && !detectedAt) detectedAt = clock.now();
    });
    await clock.advance(4000);
    // The last ping came at most one period before the cut; silence is measured from it.
    expect(detectedAt - cutAt).toBeGreaterThan(2000);
    expect(detectedAt - cutAt).toBeLessThanOrEqual(3000);
  });

  it('reports flush progress up to the whole backlog, then connected', async () => {
    const { engine, network, clock } = setup({ outbox: { batchRecords: 50 } });
    network.refuseConnects();
    for (let i = 0; i < 1000; i++) engine.send({ kind: 'sample', tag: 'T', value: i });
    const progress: Array<{ sent: number; total: number }> = [];
    engine.on('flushProgress', (p) => progress.push(p));
    network.refuseConnects(false);
    await until('connected', () => engine.state === 'connected', clock);
    expect(progress[0]).toEqual({ sent: 0, total: 1000 });
    expect(progress.at(-1)).toEqual({ sent: 1000, total: 1000 });
    expect(progress.every((p, i) => i === 0 || p.sent >= progress[i - 1]!.sent)).toBe(true);
  });

  it('emits backlog sizes, gaps and backpressure', async () => {
    const { engine, clock } = setup({ outbox: { maxRecords: 100, batchRecords: 10 } }, false);
    const gaps: unknown[] = [];
    const pressure: boolean[] = [];
    const backlog: number[] = [];
    engine.on('gap', (g) => gaps.push(g));
    engine.on('backpressure', (b) => pressure.push(b.active));
    engine.on('backlog', (b) => backlog.push(b.records));
    for (let i = 0; i < 105; i++) engine.send({ kind: 'sample', tag: 'T', value: i });
    // 101 records > 100: the oldest samples go, a batch at a time, until 90 % of the bound is left.
    expect(gaps).toEqual([
      { fromSeq: 1, toSeq: 10, count: 10, reason: 'overflow' },
      { fromSeq: 11, toSeq: 20, count: 10, reason: 'overflow' },
    ]);
    for (let i = 0; i < 200; i++) engine.send({ kind: 'event', name: 'log' });
    expect(pressure).toEqual([true]);
    await clock.advance(300);
    expect(backlog.at(-1)).toBe(engine.outbox.records);
  });

  it('says goodbye on close, so the aggregator shows the engine offline rather than lost', async () => {
    const { engine, aggregator, clock } = setup();
    await until('connected', () => engine.state === 'connected', clock);
    engine.send({ kind: 'event', name: 'last words' });
    const closing = engine.close({ drainTimeoutMs: 5000 });
    await until('closed', () => engine.state === 'stopped', clock);
    await closing;
    await clock.advance(10);
    expect(engine.stats.acked).toBe(1);
    expect(aggregator?.engine('e1')?.link).toBe('offline');
  });
});

describe('ResilientDispatcher against a misbehaving aggregator', () => {
  it('never forgets records on an acknowledgement beyond what it sent: it drops the link instead', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock });
    let agg: AggregatorTransport | undefined;
    network.listen({
      authorize: () => ({ ok: true }),
      accept: (transport) => {
        agg = transport;
      },
    });
    const engine = new ResilientDispatcher({ engineId: 'e1', connector: network, clock, random: () => 0 });
    cleanups.push(() => engine.close());
    const errors: Error[] = [];
    engine.on('error', (e) => errors.push(e));
    await until('hello', () => agg !== undefined, clock);
    await settle();
    agg!.send({ type: 'welcome', v: 1, ackSeq: 0, heartbeatMs: 1000 });
    await until('connected', () => engine.state === 'connected', clock);
    for (let i = 0; i < 10; i++) engine.send({ kind: 'sample', tag: 'T', value: i });
    await settle();
    agg!.send({ type: 'ack', seq: 50 });
    await settle();
    expect(engine.stats).toMatchObject({ acked: 0, backlog: 10 });
    expect(errors.at(-1)?.message).toMatch(/acknowledged 50, beyond the last record sent \(10\)/);
    expect(engine.state).toBe('buffering.waiting');
  });
});

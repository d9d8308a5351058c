import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { seededRandom } from '../support/seededRandom.ts';
import { tempDbPath } from '../support/tempDb.ts';
import { until } from '../support/until.ts';

/**
 * The central promise over the in-memory network: every record an engine accepts is persisted exactly
 * once and in order, whatever the link does. Counts and sequence ranges are asserted exactly.
 */
interface Rig {
  clock: SimulatedClock;
  network: MemoryNetwork;
  store: SqliteStore;
  aggregator: Aggregator;
  engine: ResilientDispatcher;
  dbPath: string;
}

const rigs: Rig[] = [];

function rig(engineId = 'sim-1'): Rig {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const dbPath = tempDbPath();
  const store = new SqliteStore(dbPath);
  const aggregator = new Aggregator({ store, clock });
  network.listen(aggregator);
  const engine = new ResilientDispatcher({
    engineId,
    connector: network,
    clock,
    random: seededRandom(7),
    outbox: { batchRecords: 100 },
  });
  const r = { clock, network, store, aggregator, engine, dbPath };
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.engine.close();
    await r.aggregator.close();
  }
});

let value = 0;
function produce(engine: ResilientDispatcher, n: number): void {
  for (let i = 0; i < n; i++)
    engine.send({ kind: 'sample', tag: `tag${i % 4}`, value: value++, unit: 'degC' });
}

/** Asserts the store holds exactly sequence numbers 1..n of the engine's epoch, each once, in order. */
function expectExactlyOnce(r: Rig, n: number): void {
  const rows = r.store.records(r.engine.engineId, { epoch: r.engine.stats.epoch });
  expect(rows.length).toBe(n);
  const broken = rows.findIndex((row, i) => row.seq !== i + 1);
  expect(broken).toBe(-1);
  const values = rows.map((row) => row.value as number);
  expect(values.every((v, i) => i === 0 || v === (values[i - 1] as number) + 1)).toBe(true);
  expect(r.engine.stats).toMatchObject({ produced: n, lastSeq: n, acked: n, backlog: 0, dropped: 0 });
}

const linkOf = (r: Rig) => r.aggregator.engine(r.engine.engineId)?.link;

describe('lossless link over the in-memory network', () => {
  it('persists a live stream exactly once, in order', async () => {
    const r = rig();
    await until('connected', () => r.engine.state === 'connected', r.clock);
    produce(r.engine, 5000);
    await until('all acknowledged', () => r.engine.stats.acked === 5000, r.clock);
    expectExactlyOnce(r, 5000);
    expect(linkOf(r)).toBe('available');
  });

  it('buffers through a closed link and flushes the backlog after reconnecting', async () => {
    const r = rig();
    await until('connected', () => r.engine.state === 'connected', r.clock);
    produce(r.engine, 1000);
    r.network.refuseConnects();
    r.network.closeAll();
    await until('buffering', () => r.engine.state.startsWith('buffering'), r.clock);
    produce(r.engine, 3000);
    await r.clock.advance(20_000);
    expect(r.engine.state.startsWith('buffering')).toBe(true);
    expect(linkOf(r)).toBe('unavailable');
    r.network.refuseConnects(false);
    await until('all acknowledged', () => r.engine.stats.acked === 4000, r.clock);
    expectExactlyOnce(r, 4000);
    expect(r.engine.state).toBe('connected');
  });

  it('detects a half-open link within 3 s on both sides, then recovers without loss', async () => {
    const r = rig();
    await until('connected', () => r.engine.state === 'connected', r.clock);
    produce(r.engine, 500);
    await until('acknowledged', () => r.engine.stats.acked === 500, r.clock);
    const cutAt = r.clock.now();
    r.network.blackhole();
    produce(r.engine, 700);
    await until('engine notices', () => r.engine.state.startsWith('buffering'), r.clock, { stepMs: 50 });
    expect(r.clock.now() - cutAt).toBeLessThanOrEqual(3000);
    await until('aggregator notices', () => linkOf(r) === 'unavailable', r.clock, { stepMs: 50 });
    expect(r.clock.now() - cutAt).toBeLessThanOrEqual(3000);
    r.network.restore();
    await until('all acknowledged', () => r.engine.stats.acked === 1200, r.clock);
    expectExactlyOnce(r, 1200);
  });

  it('keeps order when frames are delayed', async () => {
    const r = rig();
    await until('connected', () => r.engine.state === 'connected', r.clock);
    r.network.delayMs = 250;
    for (let i = 0; i < 20; i++) {
      produce(r.engine, 150);
      await r.clock.advance(37);
    }
    await until('all acknowledged', () => r.engine.stats.acked === 3000, r.clock);
    expectExactlyOnce(r, 3000);
  });

  it('resumes from the persisted high-water mark after an aggregator restart on the same SQLite file', async () => {
    const r = rig();
    await until('connected', () => r.engine.state === 'connected', r.clock);
    produce(r.engine, 2000);
    await until('acknowledged', () => r.engine.stats.acked === 2000, r.clock);
    r.network.listen(undefined);
    r.network.closeAll();
    await r.aggregator.close();
    produce(r.engine, 1500);
    await r.clock.advance(5000);
    const store = new SqliteStore(r.dbPath);
    const aggregator = new Aggregator({ store, clock: r.clock });
    await aggregator.ready;
    expect(aggregator.engine('sim-1')).toMatchObject({ link: 'offline', persistedSeq: 2000 });
    r.store = store;
    r.aggregator = aggregator;
    r.network.listen(aggregator);
    await until('all acknowledged', () => r.engine.stats.acked === 3500, r.clock);
    expectExactlyOnce(r, 3500);
    expect(aggregator.engine('sim-1')?.duplicatesIgnored).toBe(0);
  });

  it('survives repeated faults during replay', async () => {
    const r = rig();
    r.network.refuseConnects();
    await r.clock.advance(1000);
    produce(r.engine, 20_000);
    r.network.refuseConnects(false);
    // Frames take 1 ms each way, so replay spans simulated time and faults land in the middle of it.
    r.network.delayMs = 1;
    // A fault each time replay passes one of these acknowledged sequence numbers, alternating kinds.
    const thresholds = [1500, 4000, 7000, 10_000, 13_000, 16_000];
    let faults = 0;
    while (thresholds.length > 0) {
      const next = thresholds.shift()!;
      await until(`replay passes ${next}`, () => r.engine.stats.acked >= next, r.clock, { stepMs: 1 });
      expect(r.engine.state).toBe('flushing');
      if (faults++ % 2 === 0) r.network.closeAll();
      else r.network.blackhole();
      await until('buffering', () => r.engine.state.startsWith('buffering'), r.clock, { stepMs: 50 });
      r.network.restore();
      r.network.delayMs = 1;
    }
    await until('all acknowledged', () => r.engine.stats.acked === 20_000, r.clock);
    expect(faults).toBe(6);
    expectExactlyOnce(r, 20_000);
  });
});

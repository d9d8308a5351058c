import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { TelemetryFeed, type TelemetryUpdate } from '../../src/dashboard/engineTelemetry.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { until } from '../support/until.ts';

/** The dashboard's telemetry: recent samples per tag and newest states, read back from the store. */
interface Rig {
  clock: SimulatedClock;
  aggregator: Aggregator;
  engine: ResilientDispatcher;
  feed: TelemetryFeed;
}
const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) {
    r.feed.close();
    await r.engine.close({ drainTimeoutMs: 0 });
    await r.aggregator.close();
  }
});

async function rig(options: { tailRecords?: number } = {}): Promise<Rig> {
  const clock = new SimulatedClock(1_700_000_000_000);
  const network = new MemoryNetwork({ clock });
  const aggregator = new Aggregator({ store: new SqliteStore(':memory:'), clock });
  network.listen(aggregator);
  const engine = new ResilientDispatcher({ engineId: 'tel-1', connector: network, clock, random: () => 0 });
  const feed = new TelemetryFeed({ aggregator, ...options });
  const r = { clock, aggregator, engine, feed };
  rigs.push(r);
  await until('available', () => aggregator.engine('tel-1')?.link === 'available', clock);
  return r;
}

async function persisted(r: Rig): Promise<void> {
  const lastSeq = r.engine.stats.lastSeq;
  await until('persisted', () => r.aggregator.engine('tel-1')?.persistedSeq === lastSeq, r.clock);
}

describe('TelemetryFeed', () => {
  it('keeps one point per 200 ms of engine time per tag, and the newest value of each state', async () => {
    const r = await rig();
    const t0 = r.clock.now();
    // Ten samples 50 ms apart: two buckets of 200 ms take four, the third two.
    for (let i = 0; i < 10; i++)
      r.engine.send({ kind: 'sample', tag: 'temp', value: i, unit: 'degC', t: t0 + i * 50 });
    r.engine.send({ kind: 'sample', tag: 'label', value: 'not a number', t: t0 });
    r.engine.send({
      kind: 'state',
      key: 'hardware.pump',
      value: { state: 'issue', connection: 'Connected' },
    });
    r.engine.send({ kind: 'state', key: 'hardware.pump', value: { state: 'ok', connection: 'Connected' } });
    await persisted(r);
    const [telemetry] = await r.feed.snapshot();
    const bucket = (t: number) => Math.floor(t / 200);
    const expected: Array<[number, number]> = [];
    for (let i = 0; i < 10; i++) {
      const t = t0 + i * 50;
      if (expected.length > 0 && bucket(expected.at(-1)![0]) === bucket(t))
        expected[expected.length - 1] = [t, i];
      else expected.push([t, i]);
    }
    expect(telemetry).toMatchObject({
      engineId: 'tel-1',
      epoch: r.engine.stats.epoch,
      persistedSeq: 13,
      tags: { temp: { unit: 'degC', points: expected } },
      states: { 'hardware.pump': { seq: 13, value: { state: 'ok', connection: 'Connected' } } },
    });
    expect(Object.keys(telemetry!.tags)).toEqual(['temp']);
  });

  it('never misses a state change in a backlog larger than what it reads of samples', async () => {
    const r = await rig({ tailRecords: 100 });
    await r.feed.snapshot();
    r.engine.send({
      kind: 'state',
      key: 'hardware.pump',
      value: { state: 'error', connection: 'Disconnected' },
    });
    for (let i = 0; i < 1000; i++) r.engine.send({ kind: 'sample', tag: 'temp', value: i });
    await persisted(r);
    const telemetry = (await r.feed.engine('tel-1'))!;
    expect(telemetry.states['hardware.pump']?.value).toEqual({ state: 'error', connection: 'Disconnected' });
    // Samples come from the newest 100 records only; all sent at one engine instant: one point.
    expect(telemetry.tags.temp?.points).toEqual([[expect.any(Number), 999]]);
  });

  it('sends listeners what is new, at most every interval, and reads nothing while nobody listens', async () => {
    const r = await rig();
    let reads = 0;
    const records = r.aggregator.store.records.bind(r.aggregator.store);
    r.aggregator.store.records = (...args) => {
      reads++;
      return records(...args);
    };
    r.engine.send({ kind: 'sample', tag: 'temp', value: 1 });
    await persisted(r);
    await r.clock.advance(2000);
    expect(reads).toBe(0);

    // Someone listens: what was persisted before is sent first, then what is new, one update each time.
    const updates: TelemetryUpdate[] = [];
    const unsubscribe = r.feed.subscribe((update) => updates.push(update));
    await until('the first update', () => updates.length === 1, r.clock);
    expect(updates[0]).toMatchObject({ engineId: 'tel-1', persistedSeq: 1, states: {} });
    expect(updates[0]!.tags.temp!.points.map(([, v]) => v)).toEqual([1]);
    await r.clock.advance(1000);
    r.engine.send({ kind: 'sample', tag: 'temp', value: 2 });
    r.engine.send({ kind: 'state', key: 'mode', value: 'auto' });
    const sentAt = r.clock.now();
    await until('the second update', () => updates.length === 2, r.clock);
    expect(r.clock.now() - sentAt).toBeLessThanOrEqual(600);
    expect(updates[1]).toMatchObject({
      engineId: 'tel-1',
      persistedSeq: 3,
      states: { mode: { value: 'auto' } },
    });
    expect(updates[1]!.tags.temp!.points.map(([, v]) => v)).toEqual([2]);
    await r.clock.advance(2000);
    expect(updates).toHaveLength(2);
    const readsWhileListening = reads;

    unsubscribe();
    r.engine.send({ kind: 'sample', tag: 'temp', value: 3 });
    await persisted(r);
    await r.clock.advance(2000);
    expect(reads).toBe(readsWhileListening);
    expect(updates).toHaveLength(2);
  });

  it('starts over from sequence 1 when the engine comes back with a new epoch', async () => {
    const r = await rig();
    r.engine.send({ kind: 'sample', tag: 'temp', value: 1 });
    await persisted(r);
    expect((await r.feed.engine('tel-1'))!.tags.temp!.points).toHaveLength(1);
    await r.engine.close();
    const network = new MemoryNetwork({ clock: r.clock });
    network.listen(r.aggregator);
    await r.clock.advance(1000);
    const restarted = new ResilientDispatcher({ engineId: 'tel-1', connector: network, clock: r.clock });
    r.engine = restarted;
    restarted.send({ kind: 'sample', tag: 'temp', value: 2 });
    await until(
      'new epoch persisted',
      () => r.aggregator.engine('tel-1')?.epoch === restarted.stats.epoch,
      r.clock,
    );
    await persisted(r);
    const telemetry = (await r.feed.engine('tel-1'))!;
    expect(telemetry.epoch).toBe(restarted.stats.epoch);
    expect(telemetry.tags.temp!.points.map(([, v]) => v)).toEqual([1, 2]);
  });

  it('knows nothing of an engine never seen', async () => {
    const r = await rig();
    expect(await r.feed.engine('nobody')).toBeUndefined();
  });
});

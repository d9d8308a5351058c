import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { OfflineSampler } from '../../src/engine/offlineSampler.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { encodeRecord, type Item } from '../../src/protocol/records.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { seededRandom } from '../support/seededRandom.ts';
import { until } from '../support/until.ts';

/**
 * Offline sampling: while the link is down, samples are thinned to one per tag per window (the latest
 * wins), each kept record saying which window it stands for and how many samples it folds; live records,
 * events and states are never thinned, and the aggregator stores the windows with no sequence gap.
 */
function sampler(intervalMs = 1000) {
  const clock = new SimulatedClock();
  const emitted: Item[] = [];
  const s = new OfflineSampler({ intervalMs, clock, emit: (text) => emitted.push(JSON.parse(text) as Item) });
  const offer = (tag: string, t: number, value: number) => {
    const record = { kind: 'sample' as const, tag, t, value, unit: 'bar' };
    s.offer(record, encodeRecord(record, 0));
  };
  return { clock, emitted, sampler: s, offer };
}

describe('OfflineSampler', () => {
  it('folds each tag to one record per window: the latest value, the window, the count', async () => {
    const { clock, emitted, sampler: s, offer } = sampler(1000);
    const start = clock.now(); // a whole second
    // 4 tags, one sample each per 100 ms, for 5 s.
    for (let k = 0; k < 50; k++) {
      for (let tag = 0; tag < 4; tag++) offer(`t${tag}`, start + k * 100, k * 10 + tag);
      await clock.advance(100);
    }
    // Every window has closed on time (the last one at start + 5000, now).
    expect(emitted).toHaveLength(20);
    expect(s.thinned).toBe(200 - 20);
    expect(s.windows).toBe(20);
    expect(s.openWindows).toBe(0);
    for (let w = 0; w < 5; w++)
      for (let tag = 0; tag < 4; tag++)
        expect(emitted).toContainEqual([
          'f',
          `t${tag}`,
          start + w * 1000 + 900,
          (w * 10 + 9) * 10 + tag,
          start + w * 1000,
          start + (w + 1) * 1000,
          10,
          'bar',
        ]);
  });

  it('sends a window of one sample as that plain sample, and keeps the latest by time', () => {
    const { emitted, sampler: s, offer, clock } = sampler(1000);
    const start = clock.now();
    offer('a', start + 10, 1);
    offer('b', start + 500, 2);
    offer('b', start + 100, 3); // arrives late: older than the one held
    s.flush();
    expect(emitted).toEqual([
      ['s', 'a', start + 10, 1, 'bar'],
      ['f', 'b', start + 500, 2, start, start + 1000, 2, 'bar'],
    ]);
    expect(s.thinned).toBe(1);
  });

  it('closes a window when a sample of a later window comes, before the timer', () => {
    const { emitted, offer, clock } = sampler(1000);
    const start = clock.now();
    offer('a', start + 1, 1);
    offer('a', start + 2, 2);
    offer('a', start + 1001, 3);
    expect(emitted).toEqual([['f', 'a', start + 2, 2, start, start + 1000, 2, 'bar']]);
  });
});

describe('offline sampling in the dispatcher, stored by the aggregator', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('thins only while the link is down; exact counts reach the store with no sequence gap', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock });
    const store = new SqliteStore(':memory:');
    const aggregator = new Aggregator({ store, clock });
    network.listen(aggregator);
    const engine = new ResilientDispatcher({
      engineId: 'thin-1',
      connector: network,
      clock,
      random: seededRandom(3),
      offlineSampleIntervalMs: 1000,
      retry: { initialMs: 500, maxMs: 500 },
    });
    cleanups.push(async () => {
      await engine.close();
      await aggregator.close();
    });
    const sampleAt = (tag: number, value: number) =>
      engine.send({ kind: 'sample', tag: `tag${tag}`, value, t: clock.now() });

    await until('connected', () => engine.state === 'connected', clock);
    // Live: 3 tags every 50 ms for 2 s, never thinned.
    let value = 0;
    for (let k = 0; k < 40; k++) {
      for (let tag = 0; tag < 3; tag++) sampleAt(tag, value++);
      await clock.advance(50);
    }
    await until('live acknowledged', () => engine.stats.acked === 120, clock);

    // Down: the aggregator refuses and every link closes.
    network.refuseConnects();
    network.closeAll();
    await until('buffering', () => engine.state.startsWith('buffering'), clock);
    // Start the outage on a window boundary, so that every window is whole.
    await clock.advance(1000 - (clock.now() % 1000));
    const outageStart = clock.now();
    for (let k = 0; k < 200; k++) {
      for (let tag = 0; tag < 3; tag++) sampleAt(tag, value++);
      if (k % 50 === 0) engine.send({ kind: 'event', name: 'note', data: { k }, t: clock.now() });
      if (k % 40 === 0) engine.send({ kind: 'state', key: 'phase', value: k, t: clock.now() });
      await clock.advance(50);
    }
    // 10 s offline: 10 windows per tag of 20 samples; 4 events and 5 states kept as they are.
    expect(engine.offlineSampler!.thinned).toBe(3 * 10 * 19);
    expect(engine.offlineSampler!.windows).toBe(30);
    const offline = engine.stats.lastSeq - 120;
    expect(offline).toBe(30 + 4 + 5);

    network.refuseConnects(false);
    await until('connected again', () => engine.state === 'connected', clock);
    // Live again: not thinned.
    for (let k = 0; k < 20; k++) {
      for (let tag = 0; tag < 3; tag++) sampleAt(tag, value++);
      await clock.advance(50);
    }
    const lastSeq = 120 + offline + 60;
    await until('all acknowledged', () => engine.stats.acked === lastSeq, clock);
    expect(engine.stats).toMatchObject({ produced: 120 + 600 + 4 + 5 + 60, lastSeq, acked: lastSeq });

    // The store holds every sequence number once, no gap; the thinned windows carry their counts.
    const rows = store.records('thin-1');
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    expect(store.gaps('thin-1')).toEqual([]);
    const windows = rows.filter((r) => r.window);
    expect(windows).toHaveLength(30);
    for (const row of windows) {
      expect(row.kind).toBe('sample');
      expect(row.window!.samples).toBe(20);
      expect(row.window!.end - row.window!.start).toBe(1000);
      expect(row.window!.start).toBeGreaterThanOrEqual(outageStart);
      expect(row.t).toBe(row.window!.start + 950); // the latest sample of its window
    }
    const folded = windows.reduce((n, r) => n + r.window!.samples, 0);
    const plainSamples = rows.filter((r) => r.kind === 'sample' && !r.window).length;
    expect(folded + plainSamples).toBe(120 + 600 + 60);
    expect(rows.filter((r) => r.kind === 'event')).toHaveLength(4);
    expect(rows.filter((r) => r.kind === 'state')).toHaveLength(5);
  });
});

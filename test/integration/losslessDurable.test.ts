import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DurableOutbox } from '../../src/engine/outbox/durable/durableOutbox.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { controllableFileSystem, tempOutboxPath } from '../engine/durableOutboxSupport.ts';
import { memoryWorld } from '../support/memoryWorld.ts';
import { seededRandom } from '../support/seededRandom.ts';
import { until } from '../support/until.ts';

/**
 * Promise 6 with the durable outbox, over the in-memory network with a simulated clock and the real
 * aggregator: an engine that dies during an outage and starts again keeps its epoch and numbering and
 * loses nothing; a disk that fills up during an outage loses nothing either, and the aggregator learns
 * of both the failure and the recovery from event records in the stream.
 */
const cleanups: Array<() => Promise<void>> = [];
/** A dead process loses what it had not written, not what it had: syncing to the platter is not tested here. */
const unsynced = { ...fs, fdatasyncSync: () => {}, fsyncSync: () => {} };
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const world = () => memoryWorld(cleanups);

let value = 0;
function produce(engine: ResilientDispatcher, n: number): void {
  for (let i = 0; i < n; i++) engine.send({ kind: 'sample', tag: `tag${i % 4}`, value: value++ });
}

describe('lossless with a durable outbox', () => {
  it('an engine that dies during an outage resumes its epoch and numbering; nothing is lost or doubled', async () => {
    const { clock, network, store } = world();
    const path = tempOutboxPath();
    // The first engine runs on a clock of its own, so that once "dead" it never acts again.
    const firstClock = new SimulatedClock(clock.now());
    const first = new ResilientDispatcher({
      engineId: 'durable-1',
      connector: network,
      clock: firstClock,
      random: seededRandom(1),
      outbox: { path, sync: 'always', fileSystem: unsynced },
    });
    const step = async (ms: number) => {
      await firstClock.advance(ms);
      await clock.advance(ms);
    };
    for (let i = 0; i < 200 && first.state !== 'connected'; i++) await step(10);
    produce(first, 1000);
    for (let i = 0; i < 500 && first.stats.acked < 1000; i++) await step(10);
    expect(first.stats.acked).toBe(1000);
    network.refuseConnects();
    network.closeAll();
    for (let i = 0; i < 100 && !first.state.startsWith('buffering'); i++) await step(10);
    produce(first, 2000);
    const epoch = first.stats.epoch;
    // Dead: no close, no flush; its clock never moves again.

    const second = new ResilientDispatcher({
      engineId: 'durable-1',
      connector: network,
      clock,
      random: seededRandom(2),
      outbox: { path, sync: 'always', fileSystem: unsynced },
    });
    cleanups.push(() => second.close());
    expect(second.stats).toMatchObject({ epoch, lastSeq: 3000 });
    produce(second, 500);
    network.refuseConnects(false);
    await until('all acknowledged', () => second.stats.acked === 3500, clock);
    const rows = store.records('durable-1');
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 3500 }, (_, i) => i + 1));
    expect(rows.map((r) => r.value)).toEqual(Array.from({ length: 3500 }, (_, i) => i));
    expect(store.gaps('durable-1')).toEqual([]);
  });

  it('a disk that fills up during an outage loses nothing, and the stream says so', async () => {
    const { clock, network, store } = world();
    const disk = controllableFileSystem();
    const outbox = new DurableOutbox({
      path: tempOutboxPath(),
      clock,
      fileSystem: disk.fs,
      diskRetry: { initialMs: 1000, maxMs: 1000 },
    });
    const engine = new ResilientDispatcher({
      engineId: 'durable-2',
      connector: network,
      clock,
      random: seededRandom(3),
      outbox,
    });
    cleanups.push(() => engine.close());
    await until('connected', () => engine.state === 'connected', clock);
    produce(engine, 500);
    await until('acknowledged', () => engine.stats.acked === 500, clock);
    network.refuseConnects();
    network.closeAll();
    await until('buffering', () => engine.state.startsWith('buffering'), clock);
    disk.fail('ENOSPC');
    produce(engine, 3000);
    await clock.advance(500);
    expect(outbox.inMemory).toBe(true);
    produce(engine, 1000);
    network.refuseConnects(false);
    await until('in memory, delivered', () => engine.stats.acked === engine.stats.lastSeq, clock);
    disk.fail(undefined);
    await until('disk back', () => !outbox.inMemory, clock);
    produce(engine, 500);
    await until('all acknowledged', () => engine.stats.acked === 5002, clock);

    const rows = store.records('durable-2');
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 5002 }, (_, i) => i + 1));
    const events = rows.filter((r) => r.kind === 'event');
    expect(events.map((r) => r.key)).toEqual(['outbox.disk-unavailable', 'outbox.disk-restored']);
    expect(events[0]!.value).toMatchObject({ code: 'ENOSPC' });
    const samples = rows.filter((r) => r.kind === 'sample').map((r) => r.value as number);
    expect(samples).toEqual(Array.from({ length: 5000 }, (_, i) => samples[0]! + i));
    expect(store.gaps('durable-2')).toEqual([]);
  });
});

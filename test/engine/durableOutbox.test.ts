import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DurableOutbox } from '../../src/engine/outbox/durable/durableOutbox.ts';
import type { GapInfo, StorageInfo } from '../../src/engine/outbox/outbox.ts';
import type { Item } from '../../src/protocol/records.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import {
  controllableFileSystem,
  event,
  expectContiguous,
  outboxesClosedAfterEach,
  put,
  readAll,
  sample,
  state,
  tempOutboxPath,
} from './durableOutboxSupport.ts';

/**
 * The durable outbox on its own: numbering that survives restarts, the two sync policies, what a crash
 * costs under each (exactly), acknowledged segments going away, the overflow policy on disk with exact
 * counts, and a disk that fails and comes back. A crash is played by dropping the outbox without
 * closing it: what it had not written is lost exactly as a killed process loses it.
 */
const outbox = outboxesClosedAfterEach();

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, n) => from + n);
const segmentFiles = (path: string) => readdirSync(path).filter((name) => name.startsWith('segment-'));

describe('DurableOutbox: numbering and restarts', () => {
  it('keeps its epoch, numbering and every unacknowledged record across a clean restart', async () => {
    const path = tempOutboxPath();
    const clock = new SimulatedClock();
    const first = new DurableOutbox({ path, clock, segmentBytes: 16 * 1024 });
    for (let i = 1; i <= 5000; i++) put(first, i % 10 === 0 ? event(i) : sample(i));
    first.acknowledge(1200);
    await first.close();

    const second = outbox({ path, clock, segmentBytes: 16 * 1024 });
    expect(second.epoch).toBe(first.epoch);
    expect(second.recovery).toMatchObject({ resumed: true, lastSeq: 5000, damaged: [], lost: undefined });
    expect(second.ackedSeq).toBe(1200);
    const held = readAll(second);
    expectContiguous(held, 1201, 5000);
    expect(held.map((h) => h.item[0] === 's' && h.item[3])).toEqual(
      held.map((h) => (h.seq % 10 === 0 ? false : h.seq)),
    );
    expect(put(second, sample(5001))).toBe(5001);
  });

  it('a gap item moves the numbering on, durably: a crash right after it keeps it', async () => {
    const path = tempOutboxPath();
    const clock = new SimulatedClock();
    const first = new DurableOutbox({ path, clock, sync: 'always' });
    for (let i = 1; i <= 10; i++) put(first, sample(i));
    first.appendGap(11, 500, 0, 'renumbered');
    expect(first.lastSeq).toBe(500);
    // Crash: dropped without closing (the gap was synced when appended).
    const second = outbox({ path, clock });
    expect(second.recovery).toMatchObject({ lastSeq: 500, damaged: [], lost: undefined });
    expect(readAll(second).map((h) => h.item)).toEqual([
      ...range(1, 10).map((i) => ['s', `tag${i % 3}`, 1000 + i, i, 'degC']),
      ['g', 11, 500, 0, 'renumbered'],
    ]);
    expect(put(second, sample(501))).toBe(501);
    expect(() => second.appendGap(400, 600, 0, 'renumbered')).toThrow(/does not continue the outbox/);
  });

  it('deletes segments once every record in them is acknowledged', async () => {
    const path = tempOutboxPath();
    const o = outbox({ path, sync: 'always', segmentBytes: 4096 });
    for (let i = 1; i <= 600; i++) put(o, sample(i));
    const before = segmentFiles(path).length;
    expect(before).toBeGreaterThan(5);
    o.acknowledge(450);
    const after = segmentFiles(path).length;
    expect(after).toBeLessThan(before);
    expect(o.records).toBe(150);
    expectContiguous(readAll(o), 451, 600);
    o.acknowledge(600);
    // The segment being written to stays; everything before it is gone.
    expect(segmentFiles(path).length).toBe(1);
    expect(o.nextBatch(600)).toBeUndefined();
  });

  it('reads a long backlog back in batches, crossing segments, without loading it', async () => {
    const o = outbox({ path: tempOutboxPath(), segmentBytes: 64 * 1024, batchRecords: 333 });
    for (let i = 1; i <= 20_000; i++) put(o, sample(i));
    const held = readAll(o, 0);
    expectContiguous(held, 1, 20_000);
    expect(held.every((h) => h.item[3] === h.seq)).toBe(true);
    // Resuming from the middle of a segment (a welcome's ackSeq) starts at the right record.
    const batch = o.nextBatch(12_345)!;
    expect(batch.from).toBe(12_346);
  });
});

describe('DurableOutbox: sync policies and crashes', () => {
  it('always: each record is synced before append returns; a crash loses nothing', () => {
    const path = tempOutboxPath();
    const disk = controllableFileSystem();
    const o = new DurableOutbox({ path, sync: 'always', fileSystem: disk.fs });
    for (let i = 1; i <= 200; i++) {
      const syncsBefore = disk.syncs;
      expect(put(o, sample(i))).toBe(i);
      expect(o.durableSeq).toBe(i);
      expect(disk.syncs).toBeGreaterThan(syncsBefore);
    }
    // Crash: no close.
    const reopened = outbox({ path, sync: 'always' });
    expect(reopened.recovery).toMatchObject({ lastSeq: 200, lost: undefined, damaged: [] });
    expectContiguous(readAll(reopened), 1, 200);
    expect(put(reopened, sample(201))).toBe(201);
  });

  it('batch: syncs within syncEveryMs, never lets more than syncEveryRecords wait', async () => {
    const clock = new SimulatedClock();
    const o = outbox({ path: tempOutboxPath(), clock, syncEveryMs: 100, syncEveryRecords: 1000 });
    const synced: number[] = [];
    o.on('synced', (seq) => synced.push(seq));
    // The first record after a quiet spell is synced at once (it reserves the window that follows).
    for (let i = 1; i <= 10; i++) put(o, sample(i));
    expect(o.durableSeq).toBe(1);
    await clock.advance(99);
    expect(o.durableSeq).toBe(1);
    await clock.advance(1);
    expect(o.durableSeq).toBe(10);
    for (let i = 11; i <= 5000; i++) {
      put(o, sample(i));
      expect(o.lastSeq - o.durableSeq).toBeLessThan(1000);
    }
    await clock.advance(100);
    expect(o.durableSeq).toBe(5000);
    expect(synced.at(-1)).toBe(5000);
  });

  it('batch: a crash loses exactly the unsynced window, reported as an "unsynced" gap', async () => {
    const path = tempOutboxPath();
    const options = { path, clock: new SimulatedClock(), syncEveryMs: 100, syncEveryRecords: 1000 };
    const o = new DurableOutbox(options);
    for (let i = 1; i <= 700; i++) put(o, sample(i));
    await options.clock.advance(100);
    expect(o.durableSeq).toBe(700);
    for (let i = 701; i <= 737; i++) put(o, sample(i));
    expect(o.durableSeq).toBe(700);
    // Crash: records 701..737 were accepted and never written. (Its clock never moves again: dead.)
    const clock = new SimulatedClock();
    options.clock = clock;

    const reopened = new DurableOutbox(options);
    const gaps: GapInfo[] = [];
    reopened.on('gap', (gap) => gaps.push(gap));
    const lost = reopened.recovery.lost!;
    expect(lost.fromSeq).toBe(701);
    expect(lost.reason).toBe('unsynced');
    // The window reserved at the last sync: every number that could have been handed out, no fewer.
    expect(lost.toSeq).toBeGreaterThanOrEqual(737);
    expect(lost.toSeq).toBeLessThanOrEqual(700 + 1000);
    expect(lost.count).toBe(lost.toSeq - 700);
    const held = readAll(reopened);
    expectContiguous(held, 1, lost.toSeq);
    expect(held.slice(0, 700).every((h, n) => h.item[0] === 's' && h.item[3] === n + 1)).toBe(true);
    expect(held[700]).toEqual({ seq: 701, item: ['g', 701, lost.toSeq, lost.count, 'unsynced'] });
    expect(put(reopened, sample(1))).toBe(lost.toSeq + 1);
    await clock.advance(100);
    await Promise.resolve();
    expect(gaps).toEqual([lost]);

    // A second crash right away finds the same, now written down: nothing more is lost.
    const again = outbox(options);
    expect(again.recovery.lost).toBeUndefined();
    expectContiguous(readAll(again), 1, lost.toSeq + 1);
  });
});

describe('DurableOutbox: the overflow policy on disk', () => {
  it('coalesces superseded states, then drops samples, never events: exact counts and gap items', async () => {
    const o = outbox({ path: tempOutboxPath(), sync: 'always', maxRecords: 50 });
    const gaps: GapInfo[] = [];
    o.on('gap', (gap) => gaps.push(gap));
    // 1..40: per 4: sample, sample, state "phase", event. Then samples 41..51: 51 records > 50.
    for (let i = 1; i <= 40; i++) {
      const r = i % 4;
      put(o, r === 0 ? event(i) : r === 3 ? state('phase', i) : sample(i));
    }
    for (let i = 41; i <= 51; i++) put(o, sample(i));

    expect(o.coalesced).toBe(9);
    expect(o.dropped).toBe(31);
    expect(gaps).toEqual([
      { fromSeq: 3, toSeq: 35, count: 9, reason: 'coalesced' },
      { fromSeq: 1, toSeq: 51, count: 31, reason: 'overflow' },
    ]);
    const expected: Array<{ seq: number; item: Item }> = [];
    for (let k = 0; k < 10; k++) {
      const base = 4 * k;
      expected.push({ seq: base + 1, item: ['g', base + 1, base + 2, 2, 'overflow'] });
      expected.push(
        k < 9
          ? { seq: base + 3, item: ['g', base + 3, base + 3, 1, 'coalesced'] }
          : { seq: 39, item: ['st', 'phase', 1039, 39] },
      );
      expected.push({ seq: base + 4, item: ['e', 'log', 1000 + base + 4, { i: base + 4 }] });
    }
    expected.push({ seq: 41, item: ['g', 41, 51, 11, 'overflow'] });
    expect(readAll(o)).toEqual(expected);
    expect(o.records).toBe(31);
  });

  it('drops the oldest samples first, segment by segment, and accounts for every one', () => {
    const o = outbox({ path: tempOutboxPath(), sync: 'always', maxRecords: 1000, segmentBytes: 8 * 1024 });
    const gaps: GapInfo[] = [];
    o.on('gap', (gap) => gaps.push(gap));
    for (let i = 1; i <= 3000; i++) put(o, i % 50 === 0 ? event(i) : sample(i));
    const held = readAll(o);
    expectContiguous(held, 1, 3000);
    const droppedInGaps = held.reduce((n, h) => n + (h.item[0] === 'g' ? h.item[3] : 0), 0);
    expect(droppedInGaps).toBe(o.dropped);
    expect(gaps.reduce((n, g) => n + g.count, 0)).toBe(o.dropped);
    expect(held.filter((h) => h.item[0] === 'e')).toHaveLength(60);
    // What survives is the newest samples: every kept sample is newer than every dropped one.
    const keptSamples = held.filter((h) => h.item[0] === 's').map((h) => h.seq);
    const lastDropped = Math.max(...held.filter((h) => h.item[0] === 'g').map((h) => h.item[2] as number));
    expect(Math.min(...keptSamples)).toBeGreaterThan(lastDropped);
    expect(o.records).toBeLessThanOrEqual(1000);
    expect(o.dropped + keptSamples.length + 60).toBe(3000);
  });

  it('keeps events over its bound, reports backpressure, and its end once acknowledged', () => {
    const o = outbox({ path: tempOutboxPath(), sync: 'always', maxRecords: 20 });
    const pressure: boolean[] = [];
    o.on('backpressure', (info) => pressure.push(info.active));
    for (let i = 1; i <= 30; i++) put(o, event(i));
    expect(o.dropped).toBe(0);
    expect(readAll(o).map((h) => h.item[0])).toEqual(Array(30).fill('e'));
    expect(pressure).toEqual([true]);
    o.acknowledge(25);
    expect(pressure).toEqual([true, false]);
  });
});

describe('DurableOutbox: a failing disk', () => {
  it('holds records in memory on ENOSPC, says so in the stream, and writes them when the disk works again', async () => {
    const path = tempOutboxPath();
    const clock = new SimulatedClock();
    const disk = controllableFileSystem();
    const options = { path, clock, fileSystem: disk.fs, diskRetry: { initialMs: 1000, maxMs: 8000 } };
    const o = new DurableOutbox(options);
    const t0 = clock.now();
    const storage: StorageInfo[] = [];
    o.on('storage', (info) => storage.push(info));
    for (let i = 1; i <= 100; i++) put(o, sample(i));
    await clock.advance(100);
    expect(o.durableSeq).toBe(100);

    disk.fail('ENOSPC', { spareMeta: true });
    let failedAfter = 0;
    o.once('storage', () => {
      failedAfter = o.lastSeq;
    });
    for (let i = 101; i <= 600; i++) put(o, sample(i));
    await clock.advance(100);
    // A sync failed: what was not written is held in memory, and an event says so in the stream.
    expect(o.inMemory).toBe(true);
    expect(storage).toMatchObject([{ durable: false, error: { code: 'ENOSPC' } }]);
    for (let i = 602; i <= 800; i++) put(o, sample(i));
    await clock.advance(4000); // retries at 1 s and 3 s fail
    expect(o.inMemory).toBe(true);
    let held = readAll(o, 0);
    expectContiguous(held, 1, 800);
    const values = held.filter((h) => h.item[0] === 's').map((h) => h.item[3]);
    expect(values).toEqual([...range(1, 600), ...range(602, 800)]);
    expect(held[failedAfter]).toMatchObject({
      seq: failedAfter + 1,
      item: ['e', 'outbox.disk-unavailable', t0 + 100, { code: 'ENOSPC', durableSeq: 100 }],
    });

    disk.fail(undefined);
    await clock.advance(4000); // the retry at 7 s works
    expect(o.inMemory).toBe(false);
    expect(storage.map((s) => s.durable)).toEqual([false, true]);
    await clock.advance(100);
    expect(o.durableSeq).toBe(801);
    held = readAll(o, 0);
    expectContiguous(held, 1, 801);
    expect(held[800]!.item).toEqual([
      'e',
      'outbox.disk-restored',
      t0 + 7100,
      { recordsWritten: 700, unavailableMs: 7000 },
    ]);

    // Crash (its clock never moves again): everything, memory period included, is on disk.
    const reopened = outbox({ path, clock: new SimulatedClock() });
    expect(reopened.recovery).toMatchObject({ lastSeq: 801, lost: undefined, damaged: [] });
    expect(readAll(reopened, 0)).toEqual(held);
  });

  it('bounds the records held in memory with the same policy', async () => {
    const clock = new SimulatedClock();
    const disk = controllableFileSystem();
    const o = outbox({
      path: tempOutboxPath(),
      clock,
      fileSystem: disk.fs,
      memoryFallback: { maxRecords: 100, batchRecords: 10 },
    });
    disk.fail('EIO', { spareMeta: true }); // the segments fail; the meta file still takes the ceiling
    for (let i = 1; i <= 300; i++) put(o, i % 25 === 0 ? event(i) : sample(i));
    await clock.advance(100);
    expect(o.inMemory).toBe(true);
    expect(o.records).toBeLessThanOrEqual(100);
    const held = readAll(o, 0);
    expectContiguous(held, 1, o.lastSeq);
    expect(held.filter((h) => h.item[0] === 'e')).toHaveLength(13); // 12 events and the disk's
    const droppedInGaps = held.reduce((n, h) => n + (h.item[0] === 'g' ? h.item[3] : 0), 0);
    expect(droppedInGaps).toBe(o.dropped);
    disk.fail(undefined);
  });

  it('starts on a disk that fails from the first write: records wait for numbers until it works', async () => {
    const disk = controllableFileSystem();
    const clock = new SimulatedClock();
    const path = tempOutboxPath();
    // The directory and meta file exist; every write fails, the meta file's included.
    new DurableOutbox({ path }).close();
    disk.fail('EROFS');
    const o = outbox({ path, clock, fileSystem: disk.fs });
    expect(o.inMemory).toBe(true);
    // Nothing on disk could note a number handed out: none is, and nothing is offered to send.
    expect(put(o, sample(1))).toBe(0);
    expect(readAll(o, 0)).toEqual([]);
    expect(o.records).toBe(2);
    disk.fail(undefined);
    await clock.advance(1000);
    expect(o.inMemory).toBe(false);
    const held = readAll(o, 0);
    expect(held.map((h) => [h.seq, h.item[1]])).toEqual([
      [1, 'outbox.disk-unavailable'],
      [2, 'tag1'],
      [3, 'outbox.disk-restored'],
    ]);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AsyncStore } from '../../../src/aggregator/store/asyncStore.ts';
import { SequenceGapError } from '../../../src/aggregator/store/recordStore.ts';
import type { StoredRun } from '../../../src/aggregator/store/runStore.ts';
import type { Item } from '../../../src/protocol/records.ts';
import { samples } from '../support.ts';
import { failureOf, STORE_BACKENDS, type StoreBackend } from './backends.ts';

const T = 1_767_225_600_000;

/** The store's promises, held against each backend: what the aggregator may rely on whichever it runs on. */
describe.each(STORE_BACKENDS)('store conformance: %s', (_name, makeBackend) => {
  let backend: StoreBackend;
  let store: AsyncStore;

  beforeEach(async () => {
    backend = makeBackend();
    store = await backend.open();
  });
  afterEach(async () => {
    await store.close();
    backend.cleanup();
  });

  /** Everything the store holds, for before/after comparisons. */
  async function contents(s = store) {
    const summaries = await s.engineSummaries();
    return {
      summaries,
      records: await Promise.all(summaries.map((e) => s.records(e.engineId))),
      gaps: await Promise.all(summaries.map((e) => s.gaps(e.engineId))),
    };
  }

  it('stores every kind of item in sequence order and gives values back as sent', async () => {
    const items: Item[] = [
      ['s', 'temp', T, 21.5, 'degC'],
      ['s', 'label', T + 1, 'a "quoted" string'],
      ['s', 'flag', T + 2, true],
      ['s', 'empty', T + 3, null],
      ['st', 'phase', T + 4, { step: 2, names: ['a', 'b'] }],
      ['st', 'count', T + 5, 7],
      ['e', 'run-started', T + 6],
      ['e', 'note', T + 7, null],
      ['e', 'note', T + 8, 'text'],
      ['s', 'text-number', T + 9, '12'],
      ['s', 'unicode', T + 10, 'µ°C, {"x"}\\\n'],
    ];
    const result = await store.ingest('eng-1', 'ep1', 1, items);
    expect(result).toEqual({ persistedSeq: 11, inserted: 11, duplicates: 0, gaps: 0 });
    expect(await store.highWaterMark('eng-1', 'ep1')).toBe(11);
    expect(await store.records('eng-1')).toEqual([
      { epoch: 'ep1', seq: 1, kind: 'sample', key: 'temp', t: T, value: 21.5, unit: 'degC' },
      { epoch: 'ep1', seq: 2, kind: 'sample', key: 'label', t: T + 1, value: 'a "quoted" string' },
      { epoch: 'ep1', seq: 3, kind: 'sample', key: 'flag', t: T + 2, value: true },
      { epoch: 'ep1', seq: 4, kind: 'sample', key: 'empty', t: T + 3, value: null },
      { epoch: 'ep1', seq: 5, kind: 'state', key: 'phase', t: T + 4, value: { step: 2, names: ['a', 'b'] } },
      { epoch: 'ep1', seq: 6, kind: 'state', key: 'count', t: T + 5, value: 7 },
      { epoch: 'ep1', seq: 7, kind: 'event', key: 'run-started', t: T + 6, value: undefined },
      { epoch: 'ep1', seq: 8, kind: 'event', key: 'note', t: T + 7, value: null },
      { epoch: 'ep1', seq: 9, kind: 'event', key: 'note', t: T + 8, value: 'text' },
      { epoch: 'ep1', seq: 10, kind: 'sample', key: 'text-number', t: T + 9, value: '12' },
      { epoch: 'ep1', seq: 11, kind: 'sample', key: 'unicode', t: T + 10, value: 'µ°C, {"x"}\\\n' },
    ]);
  });

  it('stores a thinned sample with its window', async () => {
    await store.ingest('eng-1', 'ep1', 1, [
      ['f', 'temp', T + 900, 22.5, T, T + 1000, 10, 'degC'],
      ['f', 'flag', T + 950, false, T, T + 1000, 3],
    ]);
    expect(await store.records('eng-1')).toEqual([
      {
        epoch: 'ep1',
        seq: 1,
        kind: 'sample',
        key: 'temp',
        t: T + 900,
        value: 22.5,
        unit: 'degC',
        window: { start: T, end: T + 1000, samples: 10 },
      },
      {
        epoch: 'ep1',
        seq: 2,
        kind: 'sample',
        key: 'flag',
        t: T + 950,
        value: false,
        window: { start: T, end: T + 1000, samples: 3 },
      },
    ]);
  });

  it('stores frames larger than one insert batch, and pages with afterSeq and limit', async () => {
    const result = await store.ingest('eng-1', 'ep1', 1, samples(173));
    expect(result.inserted).toBe(173);
    const all = await store.records('eng-1');
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 173 }, (_, i) => i + 1));
    expect(all.map((r) => r.value)).toEqual(Array.from({ length: 173 }, (_, i) => i));
    expect((await store.records('eng-1', { afterSeq: 100, limit: 5 })).map((r) => r.seq)).toEqual([
      101, 102, 103, 104, 105,
    ]);
  });

  it('stores overlapping and repeated frames exactly once, counting the duplicates', async () => {
    await store.ingest('eng-1', 'ep1', 1, samples(10));
    const overlap = await store.ingest('eng-1', 'ep1', 5, samples(11, 4)); // seq 5..15, values 4..14
    expect(overlap).toEqual({ persistedSeq: 15, inserted: 5, duplicates: 6, gaps: 0 });
    const again = await store.ingest('eng-1', 'ep1', 1, samples(15));
    expect(again).toEqual({ persistedSeq: 15, inserted: 0, duplicates: 15, gaps: 0 });

    const stored = await store.records('eng-1');
    expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(stored.map((r) => r.value)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(await store.engineSummaries()).toEqual([
      {
        engineId: 'eng-1',
        epoch: 'ep1',
        persistedSeq: 15,
        persistedCount: 15,
        duplicatesIgnored: 21,
        lastSeenAt: null,
      },
    ]);
  });

  it('a duplicate keeps the first value even when the resent item differs', async () => {
    await store.ingest('eng-1', 'ep1', 1, [['s', 'a', T, 1]]);
    await store.ingest('eng-1', 'ep1', 1, [['s', 'a', T, 999]]);
    expect((await store.records('eng-1')).map((r) => r.value)).toEqual([1]);
  });

  it('stores gap items for their whole range, and a gap straddling the mark for its part above it', async () => {
    const result = await store.ingest('eng-1', 'ep1', 1, [
      ['s', 'a', T, 1],
      ['g', 2, 4, 3, 'overflow'],
      ['s', 'a', T + 5, 5],
    ]);
    expect(result).toEqual({ persistedSeq: 5, inserted: 2, duplicates: 0, gaps: 1 });
    expect((await store.records('eng-1')).map((r) => r.seq)).toEqual([1, 5]);

    // Resent from 3: the gap now starts at 3 and reaches 8; 3..5 are already persisted.
    const straddle = await store.ingest('eng-1', 'ep1', 3, [
      ['g', 3, 8, 6, 'coalesced'],
      ['e', 'done', T + 9],
    ]);
    expect(straddle).toEqual({ persistedSeq: 9, inserted: 1, duplicates: 0, gaps: 1 });
    // A gap entirely at or below the mark is a duplicate.
    expect(await store.ingest('eng-1', 'ep1', 2, [['g', 2, 4, 3, 'overflow']])).toEqual({
      persistedSeq: 9,
      inserted: 0,
      duplicates: 1,
      gaps: 0,
    });
    expect(await store.gaps('eng-1')).toEqual([
      { epoch: 'ep1', fromSeq: 2, toSeq: 4, count: 3, reason: 'overflow' },
      { epoch: 'ep1', fromSeq: 6, toSeq: 8, count: 3, reason: 'coalesced' },
    ]);
    expect((await store.records('eng-1')).map((r) => r.seq)).toEqual([1, 5, 9]);
  });

  it('refuses a frame that skips sequence numbers and changes nothing', async () => {
    await store.ingest('eng-1', 'ep1', 1, samples(5));
    await store.touchEngine('eng-1', 'ep1', T);
    const before = await contents();

    const error = await failureOf(() => store.ingest('eng-1', 'ep1', 8, samples(3, 7)));
    expect(error).toBeInstanceOf(SequenceGapError);
    expect(error).toMatchObject({ engineId: 'eng-1', epoch: 'ep1', from: 8, persistedSeq: 5 });
    expect((error as SequenceGapError).message).toMatch(
      /start at 8, but only up to 5 is persisted: 6\.\.7 are missing/,
    );
    expect(await contents()).toEqual(before);
    expect(await store.highWaterMark('eng-1', 'ep1')).toBe(5);

    // A new stream must start at 1: nothing (not even the stream or the engine) is created otherwise.
    expect(await failureOf(() => store.ingest('eng-2', 'ep1', 2, samples(1)))).toBeInstanceOf(
      SequenceGapError,
    );
    expect(await contents()).toEqual(before);
    // And the store still takes the next frame.
    expect((await store.ingest('eng-1', 'ep1', 6, samples(1, 5))).persistedSeq).toBe(6);
  });

  it('keeps epochs apart: each is its own stream with its own mark', async () => {
    await store.ingest('eng-1', 'old', 1, samples(10));
    await store.touchEngine('eng-1', 'new', T);
    expect(await store.highWaterMark('eng-1', 'new')).toBe(0);
    await store.ingest('eng-1', 'new', 1, samples(3, 100));
    expect(await store.highWaterMark('eng-1', 'old')).toBe(10);
    expect(await store.highWaterMark('eng-1', 'new')).toBe(3);
    // Without an epoch, records come from the current one (the last touched).
    expect((await store.records('eng-1')).map((r) => [r.epoch, r.seq, r.value])).toEqual([
      ['new', 1, 100],
      ['new', 2, 101],
      ['new', 3, 102],
    ]);
    expect(await store.records('eng-1', { epoch: 'old' })).toHaveLength(10);
    expect(await store.engineSummaries()).toEqual([
      {
        engineId: 'eng-1',
        epoch: 'new',
        persistedSeq: 3,
        persistedCount: 13,
        duplicatesIgnored: 0,
        lastSeenAt: T,
      },
    ]);
    expect(await store.records('nobody')).toEqual([]);
    expect(await store.highWaterMark('nobody', 'x')).toBe(0);
  });

  it('keeps marks, counters and records across close and reopen', async () => {
    await store.ingest('eng-1', 'ep1', 1, samples(20));
    await store.ingest('eng-1', 'ep1', 11, samples(10, 10));
    await store.touchEngine('eng-1', 'ep1', T + 42);
    const before = await contents();
    await store.close();

    store = await backend.reopen();
    expect(await store.highWaterMark('eng-1', 'ep1')).toBe(20);
    expect(await contents()).toEqual(before);
    expect(await store.ingest('eng-1', 'ep1', 15, samples(10, 14))).toEqual({
      persistedSeq: 24,
      inserted: 4,
      duplicates: 6,
      gaps: 0,
    });
  });

  it('answers the newest state of each key above a sequence number', async () => {
    await store.touchEngine('eng-1', 'ep1', T);
    await store.ingest('eng-1', 'ep1', 1, [
      ['st', 'phase', T, 'idle'],
      ['st', 'mode', T + 1, { auto: true }],
      ['s', 'temp', T + 2, 20],
      ['st', 'phase', T + 3, 'running'],
      ['st', 'mode', T + 4, { auto: false }],
      ['st', 'phase', T + 5, 'paused'],
    ]);
    expect(await store.latestStates('eng-1')).toEqual([
      { epoch: 'ep1', seq: 5, kind: 'state', key: 'mode', t: T + 4, value: { auto: false } },
      { epoch: 'ep1', seq: 6, kind: 'state', key: 'phase', t: T + 5, value: 'paused' },
    ]);
    expect(await store.latestStates('eng-1', { epoch: 'ep1', afterSeq: 5 })).toEqual([
      { epoch: 'ep1', seq: 6, kind: 'state', key: 'phase', t: T + 5, value: 'paused' },
    ]);
    expect(await store.latestStates('nobody')).toEqual([]);
  });

  it('counts the records of a sequence range', async () => {
    await store.ingest('eng-1', 'ep1', 1, [...samples(4), ['g', 5, 7, 3, 'overflow'], ...samples(3)]);
    expect(await store.countRecords('eng-1', 'ep1', 1, 10)).toBe(7);
    expect(await store.countRecords('eng-1', 'ep1', 3, 8)).toBe(3);
    expect(await store.countRecords('eng-1', 'ep1', 8, 3)).toBe(0);
    expect(await store.countRecords('eng-1', 'other', 1, 10)).toBe(0);
  });

  it('saves runs (a save replaces the run) and finds them by engine, epoch, state and id', async () => {
    const run = (
      id: string,
      engineId: string,
      startedAt: number,
      changes: Partial<StoredRun> = {},
    ): StoredRun => ({
      id,
      engineId,
      epoch: 'ep1',
      state: 'active',
      startedAt,
      endedAt: null,
      reason: null,
      method: 'titration',
      phase: 'running',
      startSeq: 1,
      endSeq: null,
      since: T,
      ...changes,
    });
    await store.saveRun(run('r1', 'eng-1', T));
    await store.saveRun(run('r2', 'eng-1', T + 10, { epoch: 'ep2' }));
    await store.saveRun(run('r1', 'eng-2', T + 5, { method: null }));
    await store.saveRun(
      run('r1', 'eng-1', T, { state: 'completed', endedAt: T + 3, endSeq: 9, phase: 'done', since: T + 4 }),
    );

    expect(await store.run('r1', 'eng-1')).toEqual(
      run('r1', 'eng-1', T, { state: 'completed', endedAt: T + 3, endSeq: 9, phase: 'done', since: T + 4 }),
    );
    // Without an engine: the newest run of that id.
    expect((await store.run('r1'))?.engineId).toBe('eng-2');
    expect(await store.run('nope')).toBeUndefined();
    const ids = (runs: StoredRun[]) => runs.map((r) => `${r.engineId}/${r.id}`);
    expect(ids(await store.runs())).toEqual(['eng-1/r2', 'eng-2/r1', 'eng-1/r1']);
    expect(ids(await store.runs({ engineId: 'eng-1' }))).toEqual(['eng-1/r2', 'eng-1/r1']);
    expect(ids(await store.runs({ states: ['active', 'unconfirmed'] }))).toEqual(['eng-1/r2', 'eng-2/r1']);
    expect(ids(await store.runs({ states: [] }))).toEqual([]);
    expect(ids(await store.runs({ epoch: 'ep2' }))).toEqual(['eng-1/r2']);
    expect(ids(await store.runs({ limit: 1 }))).toEqual(['eng-1/r2']);
  });

  it('commits the frames of one transaction together, and a failure anywhere in it stores none of them', async () => {
    await store.transaction(async () => {
      await store.ingest('eng-1', 'ep1', 1, samples(3));
      await store.ingest('eng-2', 'ep1', 1, samples(2));
      await store.ingest('eng-1', 'ep1', 4, samples(3, 3));
      // Reads inside the transaction see what it wrote.
      expect(await store.countRecords('eng-1', 'ep1', 1, 6)).toBe(6);
      expect(await store.highWaterMark('eng-1', 'ep1')).toBe(6);
    });
    expect(await store.highWaterMark('eng-1', 'ep1')).toBe(6);
    const before = await contents();

    const failure = await failureOf(() =>
      store.transaction(async () => {
        await store.ingest('eng-1', 'ep1', 7, samples(2, 6));
        await store.ingest('eng-3', 'ep1', 1, samples(1));
        throw new Error('the group fails');
      }),
    );
    expect((failure as Error).message).toBe('the group fails');
    expect(await contents()).toEqual(before);
    // The marks it moved are taken back with it.
    expect(await store.highWaterMark('eng-1', 'ep1')).toBe(6);
    expect(await store.highWaterMark('eng-3', 'ep1')).toBe(0);
    expect(await failureOf(() => store.ingest('eng-1', 'ep1', 9, samples(1)))).toBeInstanceOf(
      SequenceGapError,
    );
    expect((await store.ingest('eng-1', 'ep1', 7, samples(2, 6))).inserted).toBe(2);
  });

  it('runs commit callbacks after the outermost commit and rollback callbacks of what rolled back, savepoints included', async () => {
    const log: string[] = [];
    store.afterCommit(() => log.push('outside a transaction: at once'));
    store.onRollback(() => log.push('outside a transaction: never'));
    await store.transaction(async () => {
      store.afterCommit(() => log.push('outer committed'));
      store.onRollback(() => log.push('outer undone'));
      await store.ingest('e', 'kept', 1, samples(1));
      const failed = await failureOf(() =>
        store.transaction(async () => {
          await store.ingest('e', 'x', 1, samples(2));
          store.onRollback(() => log.push('failed savepoint undone'));
          store.afterCommit(() => log.push('failed savepoint committed'));
          throw new Error('the savepoint fails');
        }),
      );
      expect((failed as Error).message).toBe('the savepoint fails');
      await store.transaction(async () => {
        await store.ingest('e', 'y', 1, samples(1));
        store.onRollback(() => log.push('released savepoint undone'));
        store.afterCommit(() => log.push('released savepoint committed'));
      });
      log.push('work done');
    });
    expect(log).toEqual([
      'outside a transaction: at once',
      'failed savepoint undone',
      'work done',
      'outer committed',
      'released savepoint committed',
    ]);
    expect(await store.highWaterMark('e', 'x')).toBe(0);
    expect(await store.highWaterMark('e', 'kept')).toBe(1);
    expect(await store.highWaterMark('e', 'y')).toBe(1);

    // The outermost transaction fails: every rollback callback, newest first; no commit callback.
    log.length = 0;
    const failed = await failureOf(() =>
      store.transaction(async () => {
        store.onRollback(() => log.push('first undone'));
        await store.transaction(async () => store.onRollback(() => log.push('released savepoint undone')));
        store.afterCommit(() => log.push('never committed'));
        throw new Error('the group fails');
      }),
    );
    expect((failed as Error).message).toBe('the group fails');
    expect(log).toEqual(['released savepoint undone', 'first undone']);
  });

  it('runs transactions begun together one after another, each whole', async () => {
    const order: string[] = [];
    await Promise.all(
      ['a', 'b', 'c'].map((engine) =>
        store.transaction(async () => {
          order.push(`${engine} begins`);
          await store.ingest(engine, 'ep', 1, samples(2));
          await store.ingest(engine, 'ep', 3, samples(2, 2));
          order.push(`${engine} ends`);
        }),
      ),
    );
    for (const engine of ['a', 'b', 'c']) expect(await store.highWaterMark(engine, 'ep')).toBe(4);
    expect((await store.engineSummaries()).map((e) => e.persistedCount)).toEqual([4, 4, 4]);
  });
});

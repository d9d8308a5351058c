import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SequenceGapError } from '../../src/aggregator/store/recordStore.ts';
import { SCHEMA_VERSION } from '../../src/aggregator/store/sqliteSchema.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import type { Item } from '../../src/protocol/records.ts';
import { samples } from './support.ts';

const T = 1_767_225_600_000;

describe('SqliteStore', () => {
  let dir: string;
  let store: SqliteStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'engine-link-store-'));
    store = new SqliteStore(join(dir, 'nested', 'aggregator.db'));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Everything the store holds, for before/after comparisons. */
  function contents(s = store) {
    return {
      summaries: s.engineSummaries(),
      records: s.engineSummaries().map((e) => s.records(e.engineId)),
      gaps: s.engineSummaries().map((e) => s.gaps(e.engineId)),
    };
  }

  it('stores every kind of item in sequence order and gives values back as sent', () => {
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
    ];
    const result = store.ingest('eng-1', 'ep1', 1, items);
    expect(result).toEqual({ persistedSeq: 9, inserted: 9, duplicates: 0, gaps: 0 });
    expect(store.highWaterMark('eng-1', 'ep1')).toBe(9);
    expect(store.records('eng-1')).toEqual([
      { epoch: 'ep1', seq: 1, kind: 'sample', key: 'temp', t: T, value: 21.5, unit: 'degC' },
      { epoch: 'ep1', seq: 2, kind: 'sample', key: 'label', t: T + 1, value: 'a "quoted" string' },
      { epoch: 'ep1', seq: 3, kind: 'sample', key: 'flag', t: T + 2, value: true },
      { epoch: 'ep1', seq: 4, kind: 'sample', key: 'empty', t: T + 3, value: null },
      { epoch: 'ep1', seq: 5, kind: 'state', key: 'phase', t: T + 4, value: { step: 2, names: ['a', 'b'] } },
      { epoch: 'ep1', seq: 6, kind: 'state', key: 'count', t: T + 5, value: 7 },
      { epoch: 'ep1', seq: 7, kind: 'event', key: 'run-started', t: T + 6, value: undefined },
      { epoch: 'ep1', seq: 8, kind: 'event', key: 'note', t: T + 7, value: null },
      { epoch: 'ep1', seq: 9, kind: 'event', key: 'note', t: T + 8, value: 'text' },
    ]);
  });

  it('stores frames larger than one insert batch, and pages with afterSeq and limit', () => {
    const result = store.ingest('eng-1', 'ep1', 1, samples(173));
    expect(result.inserted).toBe(173);
    const all = store.records('eng-1');
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 173 }, (_, i) => i + 1));
    expect(all.map((r) => r.value)).toEqual(Array.from({ length: 173 }, (_, i) => i));
    expect(store.records('eng-1', { afterSeq: 100, limit: 5 }).map((r) => r.seq)).toEqual([
      101, 102, 103, 104, 105,
    ]);
  });

  it('stores overlapping and repeated frames exactly once, counting the duplicates', () => {
    store.ingest('eng-1', 'ep1', 1, samples(10));
    const overlap = store.ingest('eng-1', 'ep1', 5, samples(11, 4)); // seq 5..15, values 4..14
    expect(overlap).toEqual({ persistedSeq: 15, inserted: 5, duplicates: 6, gaps: 0 });
    const again = store.ingest('eng-1', 'ep1', 1, samples(15));
    expect(again).toEqual({ persistedSeq: 15, inserted: 0, duplicates: 15, gaps: 0 });

    const stored = store.records('eng-1');
    expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(stored.map((r) => r.value)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(store.engineSummaries()).toEqual([
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

  it('a duplicate keeps the first value even when the resent item differs', () => {
    store.ingest('eng-1', 'ep1', 1, [['s', 'a', T, 1]]);
    store.ingest('eng-1', 'ep1', 1, [['s', 'a', T, 999]]);
    expect(store.records('eng-1').map((r) => r.value)).toEqual([1]);
  });

  it('stores gap items for their whole range, and a gap straddling the mark for its part above it', () => {
    const result = store.ingest('eng-1', 'ep1', 1, [
      ['s', 'a', T, 1],
      ['g', 2, 4, 3, 'overflow'],
      ['s', 'a', T + 5, 5],
    ]);
    expect(result).toEqual({ persistedSeq: 5, inserted: 2, duplicates: 0, gaps: 1 });
    expect(store.records('eng-1').map((r) => r.seq)).toEqual([1, 5]);

    // Resent from 3: the gap now starts at 3 and reaches 8; 3..5 are already persisted.
    const straddle = store.ingest('eng-1', 'ep1', 3, [
      ['g', 3, 8, 6, 'coalesced'],
      ['e', 'done', T + 9],
    ]);
    expect(straddle).toEqual({ persistedSeq: 9, inserted: 1, duplicates: 0, gaps: 1 });
    // A gap entirely at or below the mark is a duplicate.
    expect(store.ingest('eng-1', 'ep1', 2, [['g', 2, 4, 3, 'overflow']])).toEqual({
      persistedSeq: 9,
      inserted: 0,
      duplicates: 1,
      gaps: 0,
    });
    expect(store.gaps('eng-1')).toEqual([
      { epoch: 'ep1', fromSeq: 2, toSeq: 4, count: 3, reason: 'overflow' },
      { epoch: 'ep1', fromSeq: 6, toSeq: 8, count: 3, reason: 'coalesced' },
    ]);
    expect(store.records('eng-1').map((r) => r.seq)).toEqual([1, 5, 9]);
  });

  it('refuses a frame that skips sequence numbers and changes nothing', () => {
    store.ingest('eng-1', 'ep1', 1, samples(5));
    store.touchEngine('eng-1', 'ep1', T);
    const before = contents();

    let error: unknown;
    try {
      store.ingest('eng-1', 'ep1', 8, samples(3, 7));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SequenceGapError);
    expect(error).toMatchObject({ engineId: 'eng-1', epoch: 'ep1', from: 8, persistedSeq: 5 });
    expect((error as SequenceGapError).message).toMatch(
      /start at 8, but only up to 5 is persisted: 6\.\.7 are missing/,
    );
    expect(contents()).toEqual(before);
    expect(store.highWaterMark('eng-1', 'ep1')).toBe(5);

    // A new stream must start at 1: nothing (not even the stream or the engine) is created otherwise.
    expect(() => store.ingest('eng-2', 'ep1', 2, samples(1))).toThrow(SequenceGapError);
    expect(contents()).toEqual(before);
    // And the store still takes the next frame.
    expect(store.ingest('eng-1', 'ep1', 6, samples(1, 5)).persistedSeq).toBe(6);
  });

  it('keeps epochs apart: each is its own stream with its own mark', () => {
    store.ingest('eng-1', 'old', 1, samples(10));
    store.touchEngine('eng-1', 'new', T);
    expect(store.highWaterMark('eng-1', 'new')).toBe(0);
    store.ingest('eng-1', 'new', 1, samples(3, 100));
    expect(store.highWaterMark('eng-1', 'old')).toBe(10);
    expect(store.highWaterMark('eng-1', 'new')).toBe(3);
    // Without an epoch, records come from the current one (the last touched).
    expect(store.records('eng-1').map((r) => [r.epoch, r.seq, r.value])).toEqual([
      ['new', 1, 100],
      ['new', 2, 101],
      ['new', 3, 102],
    ]);
    expect(store.records('eng-1', { epoch: 'old' })).toHaveLength(10);
    expect(store.engineSummaries()).toEqual([
      {
        engineId: 'eng-1',
        epoch: 'new',
        persistedSeq: 3,
        persistedCount: 13,
        duplicatesIgnored: 0,
        lastSeenAt: T,
      },
    ]);
    expect(store.records('nobody')).toEqual([]);
    expect(store.highWaterMark('nobody', 'x')).toBe(0);
  });

  it('keeps marks, counters and records across close and reopen of the same file', () => {
    const path = join(dir, 'nested', 'aggregator.db');
    store.ingest('eng-1', 'ep1', 1, samples(20));
    store.ingest('eng-1', 'ep1', 11, samples(10, 10));
    store.touchEngine('eng-1', 'ep1', T + 42);
    const before = contents();
    store.close();

    store = new SqliteStore(path);
    expect(store.highWaterMark('eng-1', 'ep1')).toBe(20);
    expect(contents()).toEqual(before);
    expect(store.ingest('eng-1', 'ep1', 15, samples(10, 14))).toEqual({
      persistedSeq: 24,
      inserted: 4,
      duplicates: 6,
      gaps: 0,
    });

    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('refuses a database written by a newer schema version', () => {
    const path = join(dir, 'future.db');
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => new SqliteStore(path)).toThrow(
      new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than`),
    );
  });

  it('works in memory', () => {
    const memory = new SqliteStore(':memory:');
    expect(memory.ingest('e', 'x', 1, samples(2)).persistedSeq).toBe(2);
    memory.close();
  });

  it('runs commit callbacks after the outermost commit and rollback callbacks of what rolled back, savepoints included', () => {
    const store = new SqliteStore(':memory:');
    const log: string[] = [];
    store.afterCommit(() => log.push('outside a transaction: at once'));
    store.onRollback(() => log.push('outside a transaction: never'));
    store.transaction(() => {
      store.afterCommit(() => log.push('outer committed'));
      store.onRollback(() => log.push('outer undone'));
      expect(() =>
        store.transaction(() => {
          store.ingest('e', 'x', 1, samples(2));
          store.onRollback(() => log.push('failed savepoint undone'));
          store.afterCommit(() => log.push('failed savepoint committed'));
          throw new Error('the savepoint fails');
        }),
      ).toThrow('the savepoint fails');
      store.transaction(() => {
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
    expect(store.highWaterMark('e', 'x')).toBe(0);

    // The outermost transaction fails: every rollback callback, newest first; no commit callback.
    log.length = 0;
    expect(() =>
      store.transaction(() => {
        store.onRollback(() => log.push('first undone'));
        store.transaction(() => store.onRollback(() => log.push('released savepoint undone')));
        store.afterCommit(() => log.push('never committed'));
        throw new Error('the group fails');
      }),
    ).toThrow('the group fails');
    expect(log).toEqual(['released savepoint undone', 'first undone']);
    store.close();
  });
});

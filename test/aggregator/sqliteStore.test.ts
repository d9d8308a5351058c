import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/aggregator/store/sqliteSchema.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { samples } from './support.ts';

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

  // What every store promises is in store/storeConformance.test.ts (run on SQLite and PostgreSQL); here
  // is what is SQLite's own: the file, its pragmas, memory databases, synchronous transactions.

  it('creates the file with its parent folders, in WAL mode, marked with the schema version', () => {
    const path = join(dir, 'nested', 'aggregator.db');
    store.ingest('eng-1', 'ep1', 1, samples(2));
    store.close();
    store = new SqliteStore(path);
    expect(store.highWaterMark('eng-1', 'ep1')).toBe(2);
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

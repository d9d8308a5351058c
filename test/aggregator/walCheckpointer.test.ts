import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { WalCheckpointer } from '../../src/aggregator/store/walCheckpointer.ts';
import { samples } from './support.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'engine-link-wal-'));
  dirs.push(dir);
  return dir;
}
const nextCheckpoint = (c: WalCheckpointer) =>
  new Promise<{ log: number; checkpointed: number }>((resolve) => c.once('checkpoint', resolve));

describe('WalCheckpointer', () => {
  it('copies committed pages into the database from a thread of its own', async () => {
    const path = join(tempDir(), 'wal.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (x TEXT)');
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run('x'.repeat(200));
    })();
    const before = statSync(path).size;
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(200_000);
    const failures: string[] = [];
    const checkpointer = new WalCheckpointer(path, (message) => failures.push(message));
    const first = await nextCheckpoint(checkpointer);
    expect(first.log).toBeGreaterThan(50);
    expect(first.checkpointed).toBe(first.log);
    expect(statSync(path).size).toBeGreaterThan(before + 200_000);
    expect(failures).toEqual([]);
    checkpointer.close();
    db.close();
  });

  it('reports a thread that cannot open the database, once', async () => {
    const failures: string[] = [];
    const checkpointer = new WalCheckpointer(join(tempDir(), 'missing.db'), (m) => failures.push(m));
    const message = await new Promise<string>((resolve) => checkpointer.once('failed', resolve));
    expect(message).toMatch(/unable to open|does not exist|directory does not exist/i);
    expect(failures).toEqual([message]);
  });
});

describe('SqliteStore checkpoints', () => {
  it('checkpoints a file store in the background and keeps commits off automatic checkpoints', () => {
    const store = new SqliteStore(join(tempDir(), 'store.db'));
    expect(store.checkpointState().mode).toBe('background');
    store.ingest('e', 'ep', 1, samples(10));
    expect(store.highWaterMark('e', 'ep')).toBe(10);
    store.close();
  });

  it('checkpoints inline when asked, and for a database in memory', () => {
    const inline = new SqliteStore(join(tempDir(), 'inline.db'), { checkpoint: 'inline' });
    expect(inline.checkpointState()).toEqual({ mode: 'inline' });
    inline.close();
    const memory = new SqliteStore(':memory:');
    expect(memory.checkpointState()).toEqual({ mode: 'inline' });
    memory.close();
  });
});

// The limit for catch-up: the raw insert rate of the aggregator's own SQLite schema (file, WAL,
// synchronous=NORMAL), rows prepared in advance (no decoding, no validation, no network), one transaction
// per 1000 rows, as (a) one prepared single-row INSERT per row and (b) 50-row multi-row INSERTs.
// Prints one JSON line: { singleRow, multiRow } in rows/s. Args: <records>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';

const records = Number(process.argv[2] ?? 1_000_000);
const FRAME = 1000;
const ROWS = 50;
const T0 = 1_767_225_600_000;
const TAGS = ['reactor0.temp', 'reactor1.temp', 'reactor2.temp', 'reactor3.temp'];
const dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-raw-'));

function open(name: string): Database.Database {
  const path = join(dir, name);
  new SqliteStore(path).close(); // the same schema, created by the store itself
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return db;
}

function singleRow(): number {
  const db = open('single.db');
  const insert = db.prepare(
    'INSERT INTO records (stream, seq, kind, key, t, value, unit) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const frame = db.transaction((from: number, n: number) => {
    for (let seq = from; seq < from + n; seq++)
      insert.run(1, seq, 0, TAGS[seq % 4]!, T0 + seq, 20 + (seq % 1000) / 100, 'degC');
  });
  const started = performance.now();
  for (let from = 1; from <= records; from += FRAME) frame(from, Math.min(FRAME, records - from + 1));
  const elapsed = performance.now() - started;
  db.close();
  return (records / elapsed) * 1000;
}

function multiRow(): number {
  const db = open('multi.db');
  const insert = db.prepare(
    `INSERT INTO records (stream, seq, kind, key, t, value, unit) VALUES ${new Array(ROWS).fill('(?,?,?,?,?,?,?)').join(',')}`,
  );
  const args: unknown[] = new Array(ROWS * 7);
  const frame = db.transaction((from: number) => {
    for (let base = from; base < from + FRAME; base += ROWS) {
      for (let r = 0; r < ROWS; r++) {
        const seq = base + r;
        const o = r * 7;
        args[o] = 1;
        args[o + 1] = seq;
        args[o + 2] = 0;
        args[o + 3] = TAGS[seq % 4]!;
        args[o + 4] = T0 + seq;
        args[o + 5] = 20 + (seq % 1000) / 100;
        args[o + 6] = 'degC';
      }
      insert.run(args);
    }
  });
  const rounded = Math.floor(records / FRAME) * FRAME;
  const started = performance.now();
  for (let from = 1; from <= rounded; from += FRAME) frame(from);
  const elapsed = performance.now() - started;
  db.close();
  return (rounded / elapsed) * 1000;
}

const result = { records, singleRow: singleRow(), multiRow: multiRow() };
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(result)}\n`);

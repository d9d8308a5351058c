import type Database from 'better-sqlite3';

/**
 * The SQLite store's schema, in one place: its version, its mark, its tables and the migrations that
 * build them. A new table or column is a new migration at the end of MIGRATIONS (and SCHEMA_VERSION one
 * higher); a table's name goes into STORE_TABLES, which tells an engine-link store from another
 * application's database.
 */

/** `PRAGMA application_id` of an engine-link store ("ELnk"): marks the file as the aggregator's. */
export const STORE_APPLICATION_ID = 0x454c6e6b;

/** The tables an engine-link store holds (every schema version); a file with any other is not ours. */
export const STORE_TABLES: ReadonlySet<string> = new Set([
  'engines',
  'streams',
  'records',
  'gaps',
  'runs',
  'sample_windows',
]);

/** The schema version this code writes, kept in `PRAGMA user_version`. */
export const SCHEMA_VERSION = 3;

/**
 * Migrations, in order: `MIGRATIONS[n]` takes the schema from version n to n + 1. Record rows stay small:
 * a stream is an integer, the kind a small integer (0 sample, 1 state, 2 event), and `value` has no
 * declared type, so numbers are stored as numbers and everything else as JSON text (NULL: no value).
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE IF NOT EXISTS engines (
    id TEXT PRIMARY KEY,
    current_epoch TEXT,
    first_seen_at INTEGER,
    last_seen_at INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY,
    engine_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    high_water INTEGER NOT NULL DEFAULT 0,
    record_count INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    UNIQUE (engine_id, epoch)
  );
  CREATE TABLE IF NOT EXISTS records (
    stream INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    key TEXT NOT NULL,
    t REAL NOT NULL,
    value,
    unit TEXT,
    PRIMARY KEY (stream, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS gaps (
    stream INTEGER NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    count INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (stream, from_seq)
  ) WITHOUT ROWID;
  `,
  `
  CREATE TABLE IF NOT EXISTS runs (
    engine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    reason TEXT,
    method TEXT,
    phase TEXT NOT NULL,
    start_seq INTEGER NOT NULL,
    end_seq INTEGER,
    since INTEGER NOT NULL,
    PRIMARY KEY (engine_id, id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS runs_by_id ON runs (id);
  CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state);
  `,
  // Thinned samples (offline sampling) are sample rows; their window lives beside them.
  `
  CREATE TABLE IF NOT EXISTS sample_windows (
    stream INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    window_start REAL NOT NULL,
    window_end REAL NOT NULL,
    samples INTEGER NOT NULL,
    PRIMARY KEY (stream, seq)
  ) WITHOUT ROWID;
  `,
];

/**
 * Brings the database to SCHEMA_VERSION, in one transaction; marks it as an engine-link store. A store of
 * a newer version is refused (the store file checks said so before anything was written).
 */
export function migrateSchema(db: Database.Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION)
    throw new Error(
      `store ${path} has schema version ${version}, newer than this engine-link supports (${SCHEMA_VERSION})`,
    );
  if (version === SCHEMA_VERSION) {
    // A store made before stores were marked as engine-link's.
    if (db.pragma('application_id', { simple: true }) === 0)
      db.pragma(`application_id = ${STORE_APPLICATION_ID}`);
    return;
  }
  db.transaction(() => {
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    db.pragma(`application_id = ${STORE_APPLICATION_ID}`);
  })();
}

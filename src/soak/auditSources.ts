import Database from 'better-sqlite3';
import postgres from 'postgres';
import { isPostgresUrl } from '../aggregator/store/postgres/postgresConnection.ts';

/** A stream (engine epoch) as the store holds it. */
export interface AuditStream {
  id: number;
  epoch: string;
  high_water: number;
  duplicates: number;
}

/** A record as the audit reads it: a non-number value as its JSON text. */
export interface AuditRow {
  seq: number;
  kind: number;
  key: string;
  t: number;
  value: number | string | null;
}

/** The tables of an aggregator's store, read directly (SQLite file or PostgreSQL database). */
export interface AuditSource {
  streams(engineId: string): Promise<AuditStream[]>;
  gaps(stream: number): Promise<Array<{ from_seq: number; to_seq: number; count: number }>>;
  /** The stream's records in sequence order, read in pages. */
  rows(stream: number): AsyncIterable<AuditRow>;
  close(): Promise<void>;
}

/** Opens the store at `db`: a SQLite file path, or a postgres:// URL. */
export function openAuditSource(db: string): AuditSource {
  return isPostgresUrl(db) ? postgresSource(db) : sqliteSource(db);
}

function sqliteSource(path: string): AuditSource {
  const db = new Database(path, { fileMustExist: true });
  return {
    streams: async (engineId) =>
      db
        .prepare('SELECT id, epoch, high_water, duplicates FROM streams WHERE engine_id = ?')
        .all(engineId) as AuditStream[],
    gaps: async (stream) =>
      db
        .prepare('SELECT from_seq, to_seq, count FROM gaps WHERE stream = ? ORDER BY from_seq')
        .all(stream) as Array<{
        from_seq: number;
        to_seq: number;
        count: number;
      }>,
    async *rows(stream) {
      yield* db
        .prepare('SELECT seq, kind, key, t, value FROM records WHERE stream = ? ORDER BY seq')
        .iterate(stream) as IterableIterator<AuditRow>;
    },
    close: async () => {
      db.close();
    },
  };
}

function postgresSource(url: string): AuditSource {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  // bigint columns come as text from postgres.js.
  const numbers = <T extends object>(row: T, keys: Array<keyof T>): T => {
    for (const key of keys) row[key] = Number(row[key]) as T[keyof T];
    return row;
  };
  return {
    streams: async (engineId) =>
      (
        (await sql`SELECT id, epoch, high_water, duplicates FROM streams WHERE engine_id = ${engineId}`) as unknown as AuditStream[]
      ).map((row) => numbers(row, ['id', 'high_water', 'duplicates'])),
    gaps: async (stream) =>
      (
        (await sql`SELECT from_seq, to_seq, count FROM gaps WHERE stream = ${stream} ORDER BY from_seq`) as unknown as Array<{
          from_seq: number;
          to_seq: number;
          count: number;
        }>
      ).map((row) => numbers(row, ['from_seq', 'to_seq', 'count'])),
    async *rows(stream) {
      const cursor = sql`
        SELECT seq, kind, key, t, COALESCE(num::text, value::text) AS value, num IS NOT NULL AS is_number
        FROM records WHERE stream = ${stream} ORDER BY seq`.cursor(10_000);
      for await (const page of cursor)
        for (const row of page as Array<AuditRow & { is_number: boolean }>)
          yield {
            seq: Number(row.seq),
            kind: row.kind,
            key: row.key,
            t: row.t,
            value: row.is_number ? Number(row.value) : row.value,
          };
    },
    close: () => sql.end(),
  };
}

import type { Item, Json } from '../../../protocol/records.ts';
import type { AsyncRecordStore } from '../asyncStore.ts';
import { walkFrame } from '../frameItems.ts';
import {
  engineSummary,
  type GapRow,
  KIND_CODE,
  type SummaryRow,
  storedGap,
  storedRecord,
} from '../recordRows.ts';
import {
  type EngineSummary,
  type IngestResult,
  type RecordQuery,
  SequenceGapError,
  type StoredGap,
  type StoredRecord,
} from '../recordStore.ts';
import { type Queryable, query } from './postgresConnection.ts';
import type { PostgresTransactions } from './postgresTransactions.ts';
import type { StreamMarks } from './streamMarks.ts';

interface RecordRow {
  seq: number;
  kind: number;
  key: string;
  t: number;
  num: number | null;
  /** The jsonb value as text (SQL NULL: no value; 'null': the value null). */
  value: string | null;
  unit: string | null;
  window_start: number | null;
  window_end: number | null;
  samples: number | null;
}

const SELECT_RECORDS = `
  SELECT r.seq, r.kind, r.key, r.t, r.num, r.value::text AS value, r.unit, w.window_start, w.window_end, w.samples
  FROM streams s JOIN records r ON r.stream = s.id
    LEFT JOIN sample_windows w ON w.stream = r.stream AND w.seq = r.seq
  WHERE s.engine_id = $1 AND s.epoch = $2 AND r.seq > $3 ORDER BY r.seq LIMIT $4`;

const SELECT_LATEST_STATES = `
  SELECT DISTINCT ON (r.key) r.seq, r.kind, r.key, r.t, r.num, r.value::text AS value
  FROM streams s JOIN records r ON r.stream = s.id
  WHERE s.engine_id = $1 AND s.epoch = $2 AND r.seq > $3 AND r.kind = ${KIND_CODE.st}
  ORDER BY r.key, r.seq DESC`;

const SELECT_GAPS = `
  SELECT s.epoch, g.from_seq, g.to_seq, g.count, g.reason FROM gaps g JOIN streams s ON s.id = g.stream
  WHERE s.engine_id = $1 ORDER BY s.id, g.from_seq`;

const SELECT_SUMMARIES = `
  SELECT e.id, e.current_epoch, e.last_seen_at,
    COALESCE((SELECT high_water FROM streams s WHERE s.engine_id = e.id AND s.epoch = e.current_epoch), 0)
      AS persisted_seq,
    COALESCE((SELECT SUM(record_count) FROM streams s WHERE s.engine_id = e.id), 0)::int8 AS persisted_count,
    COALESCE((SELECT SUM(duplicates) FROM streams s WHERE s.engine_id = e.id), 0)::int8 AS duplicates
  FROM engines e WHERE $1::text IS NULL OR e.id = $1 ORDER BY e.id`;

const TOUCH_ENGINE = `
  INSERT INTO engines (id, current_epoch, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $3)
  ON CONFLICT (id) DO UPDATE SET current_epoch = $2, last_seen_at = $3,
    first_seen_at = COALESCE(engines.first_seen_at, $3)`;

/** Creates the stream (and its engine) if missing; answers its id either way. */
const CREATE_STREAM = `
  WITH engine AS (
    INSERT INTO engines (id, current_epoch) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING
  ), created AS (
    INSERT INTO streams (engine_id, epoch) VALUES ($1, $2) ON CONFLICT (engine_id, epoch) DO NOTHING
    RETURNING id, high_water
  )
  SELECT id, high_water FROM created
  UNION ALL SELECT id, high_water FROM streams WHERE engine_id = $1 AND epoch = $2`;

/** A stored value: a number from `num`, anything else from `value` (jsonb); neither: no value. */
function decodeValue(row: { num: number | null; value: string | null }): Json | undefined {
  if (row.num !== null) return row.num;
  return row.value === null ? undefined : (JSON.parse(row.value) as Json);
}

/**
 * The records tables of the PostgreSQL store (see postgresSchema.ts). A frame is checked against the
 * stream's mark (StreamMarks: no round trip once known) and its rows join the transaction's IngestBatch,
 * written with the rest of the group; reads in a transaction see what it wrote.
 */
export class PostgresRecords implements AsyncRecordStore {
  constructor(
    private readonly pool: Queryable,
    private readonly transactions: PostgresTransactions,
    private readonly marks: StreamMarks,
  ) {}

  ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): Promise<IngestResult> {
    if (this.transactions.current()) return this.ingestInTransaction(engineId, epoch, from, items);
    return this.transactions.transaction(() => this.ingestInTransaction(engineId, epoch, from, items));
  }

  async highWaterMark(engineId: string, epoch: string): Promise<number> {
    const scope = this.transactions.current();
    return (await this.marks.get(scope?.sql ?? this.pool, scope, engineId, epoch))?.mark ?? 0;
  }

  async records(engineId: string, q: RecordQuery = {}): Promise<StoredRecord[]> {
    const sql = await this.transactions.reader();
    const epoch = q.epoch ?? (await this.currentEpoch(sql, engineId));
    if (epoch == null) return [];
    const rows = await query<RecordRow>(sql, SELECT_RECORDS, [
      engineId,
      epoch,
      q.afterSeq ?? 0,
      q.limit ?? null,
    ]);
    return rows.map((row) => storedRecord(epoch, row, decodeValue(row)));
  }

  async latestStates(
    engineId: string,
    q: { epoch?: string; afterSeq?: number } = {},
  ): Promise<StoredRecord[]> {
    const sql = await this.transactions.reader();
    const epoch = q.epoch ?? (await this.currentEpoch(sql, engineId));
    if (epoch == null) return [];
    const rows = await query<RecordRow>(sql, SELECT_LATEST_STATES, [engineId, epoch, q.afterSeq ?? 0]);
    return rows.map((row) => ({
      epoch,
      seq: row.seq,
      kind: 'state',
      key: row.key,
      t: row.t,
      value: decodeValue(row),
    }));
  }

  async gaps(engineId: string): Promise<StoredGap[]> {
    const rows = await query<GapRow>(await this.transactions.reader(), SELECT_GAPS, [engineId]);
    return rows.map(storedGap);
  }

  async countRecords(engineId: string, epoch: string, fromSeq: number, toSeq: number): Promise<number> {
    if (toSeq < fromSeq) return 0;
    const [row] = await query<{ n: number }>(
      await this.transactions.reader(),
      `SELECT count(*) AS n FROM records r JOIN streams s ON s.id = r.stream
       WHERE s.engine_id = $1 AND s.epoch = $2 AND r.seq BETWEEN $3 AND $4`,
      [engineId, epoch, fromSeq, toSeq],
    );
    return row?.n ?? 0;
  }

  async engineSummaries(engineId?: string): Promise<EngineSummary[]> {
    const rows = await query<SummaryRow>(await this.transactions.reader(), SELECT_SUMMARIES, [
      engineId ?? null,
    ]);
    return rows.map(engineSummary);
  }

  async touchEngine(engineId: string, epoch: string, at: number): Promise<void> {
    await this.transactions.transaction(async () => {
      const scope = this.transactions.current()!;
      await query(scope.sql, TOUCH_ENGINE, [engineId, epoch, at]);
      // A hello: the mark is read again, since another aggregator on this database (the node the engine
      // was on before) may have moved it since this one last read it.
      this.marks.forget([{ engineId, epoch }]);
      await this.stream(engineId, epoch);
    });
  }

  private async currentEpoch(sql: Queryable, engineId: string): Promise<string | null | undefined> {
    const [row] = await query<{ current_epoch: string | null }>(
      sql,
      'SELECT current_epoch FROM engines WHERE id = $1',
      [engineId],
    );
    return row?.current_epoch;
  }

  /** The stream's id and mark, the stream (and its engine) created when missing (in a transaction). */
  private async stream(engineId: string, epoch: string): Promise<{ id: number; mark: number }> {
    const scope = this.transactions.current()!;
    const known = await this.marks.get(scope.sql, scope, engineId, epoch);
    if (known) return known;
    const [row] = await query<{ id: number; high_water: number }>(scope.sql, CREATE_STREAM, [
      engineId,
      epoch,
    ]);
    const created = { id: row!.id, mark: row!.high_water };
    this.marks.set(scope, engineId, epoch, created);
    return created;
  }

  private async ingestInTransaction(
    engineId: string,
    epoch: string,
    from: number,
    items: readonly Item[],
  ): Promise<IngestResult> {
    const scope = this.transactions.current()!;
    const known = await this.marks.get(scope.sql, scope, engineId, epoch);
    const mark = known?.mark ?? 0;
    // Refused before anything is written (not even the stream is created).
    if (from > mark + 1) throw new SequenceGapError(engineId, epoch, from, mark);
    const stream = known ?? (await this.stream(engineId, epoch));
    const result = walkFrame(from, mark, items, scope.batch.sink(stream.id));
    scope.batch.moved(stream.id, { engineId, epoch }, mark, result.persistedSeq, result);
    this.marks.set(scope, engineId, epoch, { id: stream.id, mark: result.persistedSeq });
    return result;
  }
}

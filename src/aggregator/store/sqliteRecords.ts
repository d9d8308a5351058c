import type Database from 'better-sqlite3';
import type { Item, Json } from '../../protocol/records.ts';
import {
  engineSummary,
  type GapRow,
  KIND_CODE,
  type SummaryRow,
  storedGap,
  storedRecord,
} from './recordRows.ts';
import {
  type EngineSummary,
  type IngestResult,
  type RecordQuery,
  type RecordStore,
  SequenceGapError,
  type StoredGap,
  type StoredRecord,
} from './recordStore.ts';

/** Rows per multi-row INSERT: fewer calls into SQLite per frame (about a third faster than one by one). */
const BATCH_ROWS = 50;
const COLUMNS = 7;
const ROW_PLACEHOLDERS = '(?,?,?,?,?,?,?)';

interface RecordRow {
  seq: number;
  kind: number;
  key: string;
  t: number;
  value: number | string | null;
  unit: string | null;
  window_start: number | null;
  window_end: number | null;
  samples: number | null;
}

/** Numbers are stored as they are; anything else as its JSON text; an absent value as NULL. */
function encodeValue(value: Json | undefined): number | string | null {
  if (typeof value === 'number') return value;
  if (value === undefined) return null;
  return JSON.stringify(value);
}

function decodeValue(stored: number | string | null): Json | undefined {
  if (typeof stored === 'number') return stored;
  if (stored === null) return undefined;
  return JSON.parse(stored) as Json;
}

/**
 * The records tables of the SQLite store (see sqliteSchema.ts): streams with their high-water marks,
 * records (inserted fifty rows to a statement), gaps, thinned samples' windows, and engines.
 */
export class SqliteRecords implements RecordStore {
  private readonly streamIds = new Map<string, number>();
  private readonly selectStream: Database.Statement<[string, string], { id: number }>;
  private readonly insertEngine: Database.Statement<[string, string, number | null]>;
  private readonly insertStream: Database.Statement<[string, string]>;
  private readonly selectMark: Database.Statement<[number], { high_water: number }>;
  private readonly updateStream: Database.Statement<[number, number, number, number]>;
  /** Multi-row inserts by number of rows, prepared on first use. */
  private readonly insertStatements = new Map<number, Database.Statement<unknown[]>>();
  private readonly insertBatch: Database.Statement<unknown[]>;
  private readonly insertGap: Database.Statement<[number, number, number, number, string]>;
  private readonly insertWindow: Database.Statement<[number, number, number, number, number]>;
  private readonly touch: Database.Statement<[{ id: string; epoch: string; at: number }]>;
  private readonly selectCurrentEpoch: Database.Statement<[string], { current_epoch: string | null }>;
  private readonly selectRecords: Database.Statement<[number, number, number], RecordRow>;
  private readonly selectGaps: Database.Statement<[string], GapRow>;
  private readonly selectSummaries: Database.Statement<[], SummaryRow>;
  private readonly countInRange: Database.Statement<[number, number, number], { n: number }>;
  private selectLatestStates:
    | Database.Statement<
        [number, number],
        { seq: number; key: string; t: number; value: number | string | null }
      >
    | undefined;
  private readonly ingestTransaction: (
    engineId: string,
    epoch: string,
    from: number,
    items: readonly Item[],
  ) => IngestResult & { streamId: number };
  private readonly batchArgs: unknown[] = new Array(BATCH_ROWS * COLUMNS);

  constructor(private readonly db: Database.Database) {
    this.selectStream = db.prepare('SELECT id FROM streams WHERE engine_id = ? AND epoch = ?');
    this.insertEngine = db.prepare(
      'INSERT INTO engines (id, current_epoch, first_seen_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
    );
    this.insertStream = db.prepare('INSERT INTO streams (engine_id, epoch) VALUES (?, ?)');
    this.selectMark = db.prepare('SELECT high_water FROM streams WHERE id = ?');
    this.updateStream = db.prepare(
      'UPDATE streams SET high_water = ?, record_count = record_count + ?, duplicates = duplicates + ? WHERE id = ?',
    );
    this.insertBatch = this.insertRows(BATCH_ROWS);
    this.insertGap = db.prepare(
      'INSERT INTO gaps (stream, from_seq, to_seq, count, reason) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertWindow = db.prepare(
      'INSERT INTO sample_windows (stream, seq, window_start, window_end, samples) VALUES (?, ?, ?, ?, ?)',
    );
    this.touch = db.prepare(
      `INSERT INTO engines (id, current_epoch, first_seen_at, last_seen_at) VALUES (@id, @epoch, @at, @at)
       ON CONFLICT (id) DO UPDATE SET current_epoch = @epoch, last_seen_at = @at,
         first_seen_at = COALESCE(first_seen_at, @at)`,
    );
    this.selectCurrentEpoch = db.prepare('SELECT current_epoch FROM engines WHERE id = ?');
    this.selectRecords = db.prepare(
      `SELECT r.seq, r.kind, r.key, r.t, r.value, r.unit, w.window_start, w.window_end, w.samples
       FROM records r LEFT JOIN sample_windows w ON w.stream = r.stream AND w.seq = r.seq
       WHERE r.stream = ? AND r.seq > ? ORDER BY r.seq LIMIT ?`,
    );
    this.selectGaps = db.prepare(
      `SELECT s.epoch, g.from_seq, g.to_seq, g.count, g.reason FROM gaps g JOIN streams s ON s.id = g.stream
       WHERE s.engine_id = ? ORDER BY s.id, g.from_seq`,
    );
    this.selectSummaries = db.prepare(
      `SELECT e.id, e.current_epoch, e.last_seen_at,
         COALESCE((SELECT high_water FROM streams s WHERE s.engine_id = e.id AND s.epoch = e.current_epoch), 0)
           AS persisted_seq,
         COALESCE((SELECT SUM(record_count) FROM streams s WHERE s.engine_id = e.id), 0) AS persisted_count,
         COALESCE((SELECT SUM(duplicates) FROM streams s WHERE s.engine_id = e.id), 0) AS duplicates
       FROM engines e ORDER BY e.id`,
    );
    this.countInRange = db.prepare(
      'SELECT COUNT(*) AS n FROM records WHERE stream = ? AND seq BETWEEN ? AND ?',
    );
    this.ingestTransaction = db.transaction(
      (engineId: string, epoch: string, from: number, items: readonly Item[]) =>
        this.ingestInTransaction(engineId, epoch, from, items),
    ).immediate;
  }

  ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): IngestResult {
    // Inside an enclosing transaction (a group commit) no savepoint of its own: a refusal is thrown
    // before anything is written, and any other failure is the enclosing transaction's to undo.
    const { streamId, ...result } = this.db.inTransaction
      ? this.ingestInTransaction(engineId, epoch, from, items)
      : this.ingestTransaction(engineId, epoch, from, items);
    // Cached only once committed: a rolled-back transaction may have created the stream (inside an
    // enclosing transaction, such as a group commit, it is not committed yet).
    if (!this.db.inTransaction) this.streamIds.set(streamKey(engineId, epoch), streamId);
    return result;
  }

  highWaterMark(engineId: string, epoch: string): number {
    const id = this.findStream(engineId, epoch);
    return id === undefined ? 0 : (this.selectMark.get(id)?.high_water ?? 0);
  }

  records(engineId: string, query: RecordQuery = {}): StoredRecord[] {
    const epoch = query.epoch ?? this.selectCurrentEpoch.get(engineId)?.current_epoch;
    if (epoch == null) return [];
    const id = this.findStream(engineId, epoch);
    if (id === undefined) return [];
    const rows = this.selectRecords.all(id, query.afterSeq ?? 0, query.limit ?? -1);
    return rows.map((row) => storedRecord(epoch, row, decodeValue(row.value)));
  }

  latestStates(engineId: string, query: { epoch?: string; afterSeq?: number } = {}): StoredRecord[] {
    const epoch = query.epoch ?? this.selectCurrentEpoch.get(engineId)?.current_epoch;
    if (epoch == null) return [];
    const id = this.findStream(engineId, epoch);
    if (id === undefined) return [];
    // SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum.
    this.selectLatestStates ??= this.db.prepare(
      `SELECT MAX(seq) AS seq, key, t, value FROM records
       WHERE stream = ? AND seq > ? AND kind = ${KIND_CODE.st} GROUP BY key ORDER BY key`,
    );
    return this.selectLatestStates.all(id, query.afterSeq ?? 0).map((row) => ({
      epoch,
      seq: row.seq,
      kind: 'state',
      key: row.key,
      t: row.t,
      value: decodeValue(row.value),
    }));
  }

  gaps(engineId: string): StoredGap[] {
    return this.selectGaps.all(engineId).map(storedGap);
  }

  engineSummaries(): EngineSummary[] {
    return this.selectSummaries.all().map(engineSummary);
  }

  touchEngine(engineId: string, epoch: string, at: number): void {
    this.db.transaction(() => {
      this.touch.run({ id: engineId, epoch, at });
      if (this.findStream(engineId, epoch) === undefined) this.insertStream.run(engineId, epoch);
    })();
  }

  countRecords(engineId: string, epoch: string, fromSeq: number, toSeq: number): number {
    const stream = this.findStream(engineId, epoch);
    if (stream === undefined || toSeq < fromSeq) return 0;
    return this.countInRange.get(stream, fromSeq, toSeq)?.n ?? 0;
  }

  private findStream(engineId: string, epoch: string): number | undefined {
    const key = streamKey(engineId, epoch);
    let id = this.streamIds.get(key);
    if (id === undefined) {
      id = this.selectStream.get(engineId, epoch)?.id;
      // Inside a transaction the stream may be one it created, which a rollback would take back.
      if (id !== undefined && !this.db.inTransaction) this.streamIds.set(key, id);
    }
    return id;
  }

  private insertRows(rows: number): Database.Statement<unknown[]> {
    let statement = this.insertStatements.get(rows);
    if (!statement) {
      statement = this.db.prepare(
        `INSERT INTO records (stream, seq, kind, key, t, value, unit) VALUES ${new Array(rows).fill(ROW_PLACEHOLDERS).join(',')}`,
      );
      this.insertStatements.set(rows, statement);
    }
    return statement;
  }

  private createStream(engineId: string, epoch: string): number {
    this.insertEngine.run(engineId, epoch, null);
    return Number(this.insertStream.run(engineId, epoch).lastInsertRowid);
  }

  private ingestInTransaction(
    engineId: string,
    epoch: string,
    from: number,
    items: readonly Item[],
  ): IngestResult & { streamId: number } {
    const known = this.findStream(engineId, epoch);
    const mark = known === undefined ? 0 : (this.selectMark.get(known)?.high_water ?? 0);
    // Refused before anything is written: inside an enclosing transaction nothing needs undoing.
    if (from > mark + 1) throw new SequenceGapError(engineId, epoch, from, mark);
    const stream = known ?? this.createStream(engineId, epoch);
    const batch = this.batchArgs;
    let buffered = 0;
    let seq = from;
    let inserted = 0;
    let duplicates = 0;
    let gaps = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (item[0] === 'g') {
        const toSeq = item[2];
        if (toSeq <= mark) duplicates++;
        else {
          // A gap straddling the mark is stored for its part above the mark.
          const fromSeq = Math.max(seq, mark + 1);
          this.insertGap.run(stream, fromSeq, toSeq, Math.min(item[3], toSeq - fromSeq + 1), item[4]);
          gaps++;
        }
        seq = toSeq + 1;
        continue;
      }
      if (seq <= mark) {
        duplicates++;
        seq++;
        continue;
      }
      const o = buffered * COLUMNS;
      batch[o] = stream;
      batch[o + 1] = seq;
      batch[o + 2] = KIND_CODE[item[0]];
      batch[o + 3] = item[1];
      batch[o + 4] = item[2];
      batch[o + 5] = encodeValue(item[3]);
      batch[o + 6] = item[0] === 's' ? (item[4] ?? null) : item[0] === 'f' ? (item[7] ?? null) : null;
      if (item[0] === 'f') this.insertWindow.run(stream, seq, item[4], item[5], item[6]);
      seq++;
      inserted++;
      if (++buffered === BATCH_ROWS) {
        this.insertBatch.run(batch);
        buffered = 0;
      }
    }
    if (buffered > 0) this.insertRows(buffered).run(batch.slice(0, buffered * COLUMNS));
    const persistedSeq = Math.max(mark, seq - 1);
    this.updateStream.run(persistedSeq, inserted, duplicates, stream);
    return { persistedSeq, inserted, duplicates, gaps, streamId: stream };
  }
}

function streamKey(engineId: string, epoch: string): string {
  return `${engineId}\n${epoch}`;
}

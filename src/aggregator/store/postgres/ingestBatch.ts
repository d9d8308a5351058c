import type { GapReason } from '../../../protocol/records.ts';
import type { FrameSink } from '../frameItems.ts';
import { KIND_CODE } from '../recordRows.ts';
import type { StoredRun } from '../runStore.ts';
import type { LeaseTokens } from './leaseTokens.ts';
import { query, type TxSql } from './postgresConnection.ts';

/** A stream's high-water mark moving within one batch: from `expected` (read before) to `next`. */
interface StreamMove {
  engineId: string;
  epoch: string;
  expected: number;
  next: number;
  inserted: number;
  duplicates: number;
}

/**
 * Another writer moved a stream's high-water mark since this aggregator read it: the compare-and-set
 * failed, and nothing of the transaction is stored (no record can be stored twice). The frame is answered
 * as a failed commit; the engine sends it again and it is checked against the mark as it now stands.
 */
export class StreamMovedError extends Error {
  override readonly name = 'StreamMovedError';
  constructor(readonly streams: ReadonlyArray<{ engineId: string; epoch: string; expected: number }>) {
    super(
      `another writer moved the high-water mark of ${streams
        .map((s) => `engine ${s.engineId} epoch ${s.epoch} (expected ${s.expected})`)
        .join(', ')}: nothing of this transaction is stored`,
    );
  }
}

const MOVE_MARKS = `
  UPDATE streams s SET high_water = m.next, record_count = s.record_count + m.inserted,
    duplicates = s.duplicates + m.duplicates
  FROM unnest($1::int4[], $2::int8[], $3::int8[], $4::int8[], $5::int8[])
    AS m(stream, expected, next, inserted, duplicates)
  WHERE s.id = m.stream AND s.high_water = m.expected
  RETURNING s.id`;

const INSERT_RECORDS = `
  INSERT INTO records (stream, seq, kind, key, t, num, value, unit)
  SELECT stream, seq, kind, key, t, num, value::jsonb, unit
  FROM unnest($1::int4[], $2::int8[], $3::int2[], $4::text[], $5::float8[], $6::float8[], $7::text[], $8::text[])
    AS r(stream, seq, kind, key, t, num, value, unit)`;

const INSERT_GAPS = `
  INSERT INTO gaps (stream, from_seq, to_seq, count, reason)
  SELECT * FROM unnest($1::int4[], $2::int8[], $3::int8[], $4::int8[], $5::text[])`;

const UPSERT_RUNS = `
  INSERT INTO runs (engine_id, id, epoch, state, started_at, ended_at, reason, method, phase, start_seq,
    end_seq, since)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[],
    $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::int8[])
    AS r(engine_id, id, epoch, state, started_at, ended_at, reason, method, phase, start_seq, end_seq, since)
  WHERE $13::text IS NULL OR NOT EXISTS (SELECT 1 FROM leases l WHERE l.engine_id = r.engine_id
    AND l.holder <> $13 AND l.expires_at > clock_timestamp())
  ON CONFLICT (engine_id, id) DO UPDATE SET epoch = EXCLUDED.epoch, state = EXCLUDED.state,
    started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, reason = EXCLUDED.reason,
    method = EXCLUDED.method, phase = EXCLUDED.phase, start_seq = EXCLUDED.start_seq,
    end_seq = EXCLUDED.end_seq, since = EXCLUDED.since`;

const INSERT_WINDOWS = `
  INSERT INTO sample_windows (stream, seq, window_start, window_end, samples)
  SELECT * FROM unnest($1::int4[], $2::int8[], $3::float8[], $4::float8[], $5::int8[])`;

/**
 * The records written in one transaction and not yet sent to PostgreSQL, column by column, with the
 * high-water marks they move and the runs saved with them. `write` sends them as a few statements, pipelined (one round trip whatever
 * the number of frames): the marks first, each by compare-and-set (`WHERE high_water = expected`), then
 * the records, gaps and windows by multi-row `INSERT … SELECT unnest(…)`. This is the one place where
 * records enter the database, so the check that must hold for every ingest goes beside the compare-and-set:
 * in a fleet (`fence`), the lease of every engine whose records the batch writes, held by this node under
 * the epoch it took it with (LeaseTokens: one more statement in the same round trip, which also keeps a
 * takeover from committing before this transaction). A run is saved only while no other node holds its
 * engine's lease (a node that lost an engine leaves its runs to the new owner).
 */
export class IngestBatch {
  constructor(private readonly fence?: LeaseTokens) {}

  private stream: number[] = [];
  private seq: number[] = [];
  private kind: number[] = [];
  private key: string[] = [];
  private t: number[] = [];
  private num: Array<number | null> = [];
  private value: Array<string | null> = [];
  private unit: Array<string | null> = [];
  private gapColumns: [number[], number[], number[], number[], string[]] = [[], [], [], [], []];
  private windowColumns: [number[], number[], number[], number[], number[]] = [[], [], [], [], []];
  private moves = new Map<number, StreamMove>();
  /** Runs saved in the transaction, the last save of each. */
  private runs = new Map<string, StoredRun>();

  get empty(): boolean {
    return this.moves.size === 0 && this.runs.size === 0;
  }

  /** Saves a run with the batch (the last save of a run in one batch is the one written). */
  saveRun(run: StoredRun): void {
    this.runs.set(`${run.engineId}\n${run.id}`, { ...run });
  }

  /** A sink for walkFrame that adds the frame's rows to the batch. */
  sink(streamId: number): FrameSink {
    return {
      record: (seq, item) => {
        this.stream.push(streamId);
        this.seq.push(seq);
        this.kind.push(KIND_CODE[item[0]]);
        this.key.push(item[1]);
        this.t.push(item[2]);
        const value = item[3];
        this.num.push(typeof value === 'number' ? value : null);
        this.value.push(typeof value === 'number' || value === undefined ? null : JSON.stringify(value));
        this.unit.push(item[0] === 's' ? (item[4] ?? null) : item[0] === 'f' ? (item[7] ?? null) : null);
        if (item[0] === 'f') {
          const [streams, seqs, starts, ends, samples] = this.windowColumns;
          streams.push(streamId);
          seqs.push(seq);
          starts.push(item[4]);
          ends.push(item[5]);
          samples.push(item[6]);
        }
      },
      gap: (fromSeq, toSeq, count, reason: GapReason) => {
        const [streams, froms, tos, counts, reasons] = this.gapColumns;
        streams.push(streamId);
        froms.push(fromSeq);
        tos.push(toSeq);
        counts.push(count);
        reasons.push(reason);
      },
    };
  }

  /** Notes that the frame just added moved the stream's mark from `before` to `after`. */
  moved(
    streamId: number,
    stream: { engineId: string; epoch: string },
    before: number,
    after: number,
    counts: { inserted: number; duplicates: number },
  ): void {
    const move = this.moves.get(streamId);
    if (move) {
      move.next = after;
      move.inserted += counts.inserted;
      move.duplicates += counts.duplicates;
    } else this.moves.set(streamId, { ...stream, expected: before, next: after, ...counts });
  }

  /** Sends the batch on the transaction's connection and empties it; throws LeaseLostError, StreamMovedError. */
  async write(sql: TxSql): Promise<void> {
    if (this.empty) return;
    const moves = [...this.moves];
    const ids = moves.map(([id]) => id);
    // Checked first (the statement goes first too); an engine not held at all is refused before sending.
    const fence =
      this.fence && moves.length > 0
        ? this.guard(() => this.fence!.fence(sql, [...new Set(moves.map(([, m]) => m.engineId))]))
        : undefined;
    const statements: Promise<unknown>[] = [
      moves.length === 0
        ? Promise.resolve([])
        : query<{ id: number }>(sql, MOVE_MARKS, [
            ids,
            moves.map(([, m]) => m.expected),
            moves.map(([, m]) => m.next),
            moves.map(([, m]) => m.inserted),
            moves.map(([, m]) => m.duplicates),
          ]),
    ];
    if (this.seq.length > 0)
      statements.push(
        query(sql, INSERT_RECORDS, [
          this.stream,
          this.seq,
          this.kind,
          this.key,
          this.t,
          this.num,
          this.value,
          this.unit,
        ]),
      );
    if (this.gapColumns[0].length > 0) statements.push(query(sql, INSERT_GAPS, this.gapColumns));
    if (this.windowColumns[0].length > 0) statements.push(query(sql, INSERT_WINDOWS, this.windowColumns));
    if (this.runs.size > 0)
      statements.push(
        query(sql, UPSERT_RUNS, [...runColumns([...this.runs.values()]), this.fence?.holder ?? null]),
      );
    this.clear();
    // All sent at once; the first failure is the one reported (the transaction is lost either way).
    const [fenced] = await Promise.allSettled([fence?.statement ?? Promise.resolve([])]);
    const settled = await Promise.allSettled(statements);
    if (fence && fenced!.status === 'fulfilled') fence.check(fenced!.value);
    if (fenced!.status === 'rejected') throw fenced!.reason;
    const failed = settled.find((s) => s.status === 'rejected');
    const marks = settled[0]!;
    if (marks.status === 'fulfilled' && (marks.value as unknown[]).length < moves.length) {
      const moved = new Set((marks.value as Array<{ id: number }>).map((row) => row.id));
      throw new StreamMovedError(
        moves
          .filter(([id]) => !moved.has(id))
          .map(([, m]) => ({ engineId: m.engineId, epoch: m.epoch, expected: m.expected })),
      );
    }
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** Runs `make`; what it throws empties the batch first (nothing of it is sent). */
  private guard<T>(make: () => T): T {
    try {
      return make();
    } catch (error) {
      this.clear();
      throw error;
    }
  }

  /** Forgets everything (the transaction rolled back, or the batch was written). */
  clear(): void {
    this.stream = [];
    this.seq = [];
    this.kind = [];
    this.key = [];
    this.t = [];
    this.num = [];
    this.value = [];
    this.unit = [];
    this.gapColumns = [[], [], [], [], []];
    this.windowColumns = [[], [], [], [], []];
    this.moves = new Map();
    this.runs = new Map();
  }
}

function runColumns(runs: StoredRun[]): unknown[][] {
  return [
    runs.map((r) => r.engineId),
    runs.map((r) => r.id),
    runs.map((r) => r.epoch),
    runs.map((r) => r.state),
    runs.map((r) => r.startedAt),
    runs.map((r) => r.endedAt),
    runs.map((r) => r.reason),
    runs.map((r) => r.method),
    runs.map((r) => r.phase),
    runs.map((r) => r.startSeq),
    runs.map((r) => r.endSeq),
    runs.map((r) => r.since),
  ];
}

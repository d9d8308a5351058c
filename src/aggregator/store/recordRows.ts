import type { GapReason, Json } from '../../protocol/records.ts';
import type { EngineSummary, StoredGap, StoredRecord, StoredRecordKind } from './recordStore.ts';

/** How a record's kind is stored (a thinned sample is a sample), and read back. */
export const KIND_CODE = { s: 0, f: 0, st: 1, e: 2 } as const;
const KIND_NAME: readonly StoredRecordKind[] = ['sample', 'state', 'event'];

/** The columns of a records row (with its sample window, if any) that both stores read alike. */
export interface RecordRowColumns {
  seq: number;
  kind: number;
  key: string;
  t: number;
  unit: string | null;
  window_start: number | null;
  window_end: number | null;
  samples: number | null;
}

/** A records row as the store answers it; `value` is decoded by the store (each keeps it its own way). */
export function storedRecord(epoch: string, row: RecordRowColumns, value: Json | undefined): StoredRecord {
  const record: StoredRecord = {
    epoch,
    seq: row.seq,
    kind: KIND_NAME[row.kind]!,
    key: row.key,
    t: row.t,
    value,
  };
  if (row.unit !== null) record.unit = row.unit;
  if (row.samples !== null)
    record.window = { start: row.window_start!, end: row.window_end!, samples: row.samples };
  return record;
}

/** A gaps row with its stream's epoch, as both stores select it. */
export interface GapRow {
  epoch: string;
  from_seq: number;
  to_seq: number;
  count: number;
  reason: GapReason;
}

export function storedGap(row: GapRow): StoredGap {
  return { epoch: row.epoch, fromSeq: row.from_seq, toSeq: row.to_seq, count: row.count, reason: row.reason };
}

/** An engine's summary row, as both stores select it. */
export interface SummaryRow {
  id: string;
  current_epoch: string | null;
  last_seen_at: number | null;
  persisted_seq: number;
  persisted_count: number;
  duplicates: number;
}

export function engineSummary(row: SummaryRow): EngineSummary {
  return {
    engineId: row.id,
    epoch: row.current_epoch,
    persistedSeq: row.persisted_seq,
    persistedCount: row.persisted_count,
    duplicatesIgnored: row.duplicates,
    lastSeenAt: row.last_seen_at,
  };
}

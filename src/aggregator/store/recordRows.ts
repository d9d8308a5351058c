import type { Json } from '../../protocol/records.ts';
import type { StoredRecord, StoredRecordKind } from './recordStore.ts';

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

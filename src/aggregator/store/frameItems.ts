import type { GapReason, Item } from '../../protocol/records.ts';

/** What a store does with each item of a frame, as `walkFrame` sorts them against the high-water mark. */
export interface FrameSink {
  /** A sample, state or event above the mark, at `seq`. */
  record(seq: number, item: Exclude<Item, readonly ['g', ...unknown[]]>): void;
  /** A gap above the mark: `fromSeq..toSeq` (its part above the mark), `count` records dropped. */
  gap(fromSeq: number, toSeq: number, count: number, reason: GapReason): void;
}

export interface FrameTally {
  /** The stream's high-water mark once the frame is stored. */
  persistedSeq: number;
  inserted: number;
  duplicates: number;
  gaps: number;
}

/**
 * Sorts the items of a `records` frame starting at `from` against the stream's high-water mark `mark`:
 * items at or below it are duplicates (already stored), the rest go to `sink` with their sequence numbers;
 * a gap straddling the mark is kept for its part above it. The caller has checked `from <= mark + 1`.
 */
export function walkFrame(from: number, mark: number, items: readonly Item[], sink: FrameSink): FrameTally {
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
        const fromSeq = Math.max(seq, mark + 1);
        sink.gap(fromSeq, toSeq, Math.min(item[3], toSeq - fromSeq + 1), item[4]);
        gaps++;
      }
      seq = toSeq + 1;
      continue;
    }
    if (seq <= mark) duplicates++;
    else {
      sink.record(seq, item);
      inserted++;
    }
    seq++;
  }
  return { persistedSeq: Math.max(mark, seq - 1), inserted, duplicates, gaps };
}

import type { EngineSummary, StoredGap } from '../store/recordStore.ts';

/**
 * What a session shows of the store for its engine, kept as frames are committed rather than read
 * again for every view: the epoch of its last hello, the high-water mark of that epoch, the counts over
 * all epochs, its gaps (read again only when a frame stored one) and when it was last heard.
 */
export class EngineTally {
  /** The epoch of the engine's last hello (null: it never said hello). */
  epoch: string | null;
  /** Highest sequence number persisted for `epoch`. */
  persistedSeq: number;
  persistedCount: number;
  duplicatesIgnored: number;
  lastSeenAt: number | null;
  gaps: StoredGap[];

  /** From what the store knew of the engine when the aggregator started (nothing, for a new engine). */
  constructor(summary: EngineSummary | undefined, gaps: StoredGap[]) {
    this.epoch = null;
    this.persistedSeq = 0;
    this.persistedCount = 0;
    this.duplicatesIgnored = 0;
    this.lastSeenAt = null;
    this.gaps = gaps;
    if (summary) this.restore(summary, gaps);
  }

  /** What the store knows of the engine (read at start, while nothing of it was committed yet). */
  restore(summary: EngineSummary, gaps: StoredGap[]): void {
    this.epoch = summary.epoch;
    this.persistedSeq = summary.persistedSeq;
    this.persistedCount = summary.persistedCount;
    this.duplicatesIgnored = summary.duplicatesIgnored;
    this.lastSeenAt ??= summary.lastSeenAt;
    this.gaps = gaps;
  }
}

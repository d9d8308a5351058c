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
    this.epoch = summary?.epoch ?? null;
    this.persistedSeq = summary?.persistedSeq ?? 0;
    this.persistedCount = summary?.persistedCount ?? 0;
    this.duplicatesIgnored = summary?.duplicatesIgnored ?? 0;
    this.lastSeenAt = summary?.lastSeenAt ?? null;
    this.gaps = gaps;
  }
}

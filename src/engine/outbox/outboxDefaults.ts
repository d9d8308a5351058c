/** How much an outbox holds before its overflow policy applies, and how much goes in one frame. */
export interface OutboxLimits {
  /** Most records held before the overflow policy applies. Default 2 000 000 (durable: no limit). */
  maxRecords?: number;
  /** Most bytes (encoded size) held before the overflow policy applies. Default 128 MiB (durable: 1 GiB). */
  maxBytes?: number;
  /** Records per batch (one frame). Default 1000. */
  batchRecords?: number;
  /** Bytes per batch (one frame). Default 256 KiB. */
  batchBytes?: number;
}

/** The memory outbox's defaults. */
export const MEMORY_OUTBOX_DEFAULTS = {
  maxRecords: 2_000_000,
  maxBytes: 128 * 1024 * 1024,
  batchRecords: 1000,
  batchBytes: 256 * 1024,
} as const;

/** The durable outbox's defaults (see DurableOutboxOptions). */
export const DURABLE_OUTBOX_DEFAULTS = {
  maxRecords: Number.MAX_SAFE_INTEGER,
  maxBytes: 1024 * 1024 * 1024,
  batchRecords: MEMORY_OUTBOX_DEFAULTS.batchRecords,
  batchBytes: MEMORY_OUTBOX_DEFAULTS.batchBytes,
  sync: 'batch',
  syncEveryMs: 100,
  syncEveryRecords: 10_000,
  /** A segment file holds this share of `maxBytes`, within these bounds. */
  segmentShareOfMaxBytes: 1 / 16,
  minSegmentBytes: 64 * 1024,
  maxSegmentBytes: 16 * 1024 * 1024,
  /** Bounds of the records held in memory while the disk is unavailable. */
  memoryFallback: { maxRecords: 1_000_000, maxBytes: 64 * 1024 * 1024 },
  /** Waits between attempts to use a failed disk again (doubling). */
  diskRetry: { initialMs: 1000, maxMs: 30_000 },
} as const;

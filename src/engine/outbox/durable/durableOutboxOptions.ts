import type { Clock } from '../../../time/clock.ts';
import { checkDuration } from '../../../time/timerBounds.ts';
import { DURABLE_OUTBOX_DEFAULTS, type OutboxLimits } from '../outboxDefaults.ts';
import type { OutboxFileSystem } from './fileSystem.ts';

/**
 * `always`: every record is written and synced (fdatasync) before `append` returns.
 * `batch`: records are written and synced together, at the latest `syncEveryMs` after the first of them
 * or when `syncEveryRecords` are waiting, whichever comes first (the first record after a quiet spell is
 * synced at once); a crash loses at most that window, and the restarted outbox reports the sequence
 * numbers reserved for it as a gap with reason "unsynced".
 */
export type SyncPolicy = 'always' | 'batch';

export interface DurableOutboxOptions extends OutboxLimits {
  /** The outbox directory (created when missing). */
  path: string;
  /** The engine the outbox belongs to: another engine id is refused (see outboxOwner.ts). */
  engineId?: string;
  /** Default `batch`. */
  sync?: SyncPolicy;
  /** Longest a record waits to be synced under `batch`. Default 100 ms. */
  syncEveryMs?: number;
  /** Most records waiting to be synced under `batch`. Default 10 000. */
  syncEveryRecords?: number;
  /** Bytes per segment file. Default: a sixteenth of `maxBytes`, between 64 KiB and 16 MiB. */
  segmentBytes?: number;
  /** Bounds of the records held in memory while the disk is unavailable. Default 1 000 000 records, 64 MiB. */
  memoryFallback?: OutboxLimits;
  /** Waits between attempts to use a failed disk again (doubling). Default 1 s, at most 30 s. */
  diskRetry?: { initialMs?: number; maxMs?: number };
  clock?: Clock;
  /**
   * File operations (tests inject failures; the simulation passes a simulated disk). Default `node:fs`.
   *
   * @internal
   */
  fileSystem?: OutboxFileSystem;
  /** Names a new epoch (default `newEpoch`: time and random; the simulation passes a seeded one). */
  newEpoch?: () => string;
}

/** The durable outbox's settings: the options given, checked, over DURABLE_OUTBOX_DEFAULTS. */
export function durableSettings(options: DurableOutboxOptions) {
  const defaults = DURABLE_OUTBOX_DEFAULTS;
  const sync = options.sync ?? defaults.sync;
  if (sync !== 'always' && sync !== 'batch')
    throw new RangeError(`outbox sync must be "always" or "batch" (got ${JSON.stringify(sync)})`);
  checkDuration('syncEveryMs', options.syncEveryMs);
  checkDuration('diskRetry.initialMs', options.diskRetry?.initialMs);
  checkDuration('diskRetry.maxMs', options.diskRetry?.maxMs);
  const limits: Required<OutboxLimits> = {
    maxRecords: options.maxRecords ?? defaults.maxRecords,
    maxBytes: options.maxBytes ?? defaults.maxBytes,
    batchRecords: options.batchRecords ?? defaults.batchRecords,
    batchBytes: options.batchBytes ?? defaults.batchBytes,
  };
  const syncEveryRecords = Math.max(1, options.syncEveryRecords ?? defaults.syncEveryRecords);
  return {
    sync,
    limits,
    segmentBytes:
      options.segmentBytes ??
      Math.min(
        defaults.maxSegmentBytes,
        Math.max(defaults.minSegmentBytes, limits.maxBytes * defaults.segmentShareOfMaxBytes),
      ),
    syncEveryMs: options.syncEveryMs ?? defaults.syncEveryMs,
    syncEveryRecords,
    /** How far above the last sequence number the meta file's ceiling is raised each time. */
    ceilingStep: sync === 'always' ? 1000 : 4 * syncEveryRecords,
    fallback: {
      limits: { ...defaults.memoryFallback, ...options.memoryFallback },
      retry: {
        initialMs: options.diskRetry?.initialMs ?? defaults.diskRetry.initialMs,
        maxMs: options.diskRetry?.maxMs ?? defaults.diskRetry.maxMs,
      },
    },
  };
}

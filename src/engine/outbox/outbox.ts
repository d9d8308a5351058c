import type { EventEmitter } from 'eventemitter3';
import type { GapReason, RecordClass } from '../../protocol/records.ts';

/** A run of sequence numbers that will never reach the aggregator as records, and why. */
export interface GapInfo {
  fromSeq: number;
  toSeq: number;
  /** Records dropped inside the range (records of other classes in between were kept). */
  count: number;
  reason: GapReason;
}

/**
 * Told with `backpressure`: the outbox is over its bound with nothing left to drop but events (`active`), or
 * below it again.
 */
export interface BackpressureInfo {
  /** True while only records that are never dropped keep the outbox over its bound. */
  active: boolean;
  records: number;
  bytes: number;
}

/** Where a durable outbox keeps its records: on disk, or in memory while its disk fails. */
export interface StorageInfo {
  durable: boolean;
  /** The failure that moved records to memory. */
  error?: Error;
  /** Records held in memory at this moment. */
  heldInMemory: number;
}

/** One write and sync of a durable outbox. */
export interface SyncInfo {
  /** Records written by it. */
  records: number;
  /** Wall time of the write and the fdatasync (ms). */
  durationMs: number;
}

/** The events of an outbox (memory or durable). */
export interface OutboxEvents {
  gap: [gap: GapInfo];
  backpressure: [info: BackpressureInfo];
  /** A durable outbox's disk failed, or works again (never emitted by the memory outbox). */
  storage: [info: StorageInfo];
  /**
   * Every record up to `seq` is on disk and synced (never emitted by the memory outbox); `sync`: the write
   * and fdatasync that did it, when it was one (not after the disk came back).
   */
  synced: [seq: number, sync?: SyncInfo];
}

/** Consecutive records ready to go as one frame. */
export interface OutboxBatch {
  from: number;
  to: number;
  /** The items' JSON texts joined by commas. */
  text: string;
  records: number;
}

/**
 * Where records wait until the aggregator acknowledges them as persisted. Sequence numbers are assigned
 * here; the outbox is bounded and applies the per-class overflow policy.
 */
export interface Outbox extends EventEmitter<OutboxEvents> {
  /** Identifies this outbox's sequence numbering; a new epoch starts again at 1. */
  readonly epoch: string;
  /** The last sequence number assigned (0: none yet). */
  readonly lastSeq: number;
  /** The highest sequence number acknowledged. */
  readonly ackedSeq: number;
  /** Records held (not yet acknowledged), gap markers included. */
  readonly records: number;
  /** Approximate bytes held (encoded size). */
  readonly bytes: number;
  /** Samples dropped by the overflow policy so far. */
  readonly dropped: number;
  /** State records superseded by a newer value of the same key and dropped so far. */
  readonly coalesced: number;
  /**
   * Stores an encoded item and returns its sequence number. `stateKey` goes with state records. 0: refused
   * (a durable outbox whose disk and meta file both fail, past what a restart would skip: see README).
   */
  append(encodedItem: string, recordClass: RecordClass, stateKey?: string): number;
  /**
   * Holds a gap item standing for `fromSeq..toSeq` (it must start at the next sequence number): numbering
   * continues after `toSeq`.
   */
  appendGap(fromSeq: number, toSeq: number, count: number, reason: GapReason): void;
  /** Forgets everything up to and including `seq`. */
  acknowledge(seq: number): void;
  /** The next batch after `afterSeq`, or undefined when nothing more is held. */
  nextBatch(afterSeq: number): OutboxBatch | undefined;
  /**
   * Releases what the outbox holds (a durable one: its files and lock). Records not acknowledged stay in a
   * durable outbox.
   */
  close(): Promise<void>;
}

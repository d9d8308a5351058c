import type { EventEmitter } from 'eventemitter3';
import { encodeRecord, type Json, type RecordClass } from '../../../protocol/records.ts';
import type { Clock } from '../../../time/clock.ts';
import type { OutboxEvents } from '../outbox.ts';
import type { OutboxLimits } from '../outboxDefaults.ts';
import { DiskFallback, type WaitingRecord } from './diskFallback.ts';
import type { SyncPolicy } from './durableOutboxOptions.ts';
import type { OutboxMetaKeeper } from './metaFile.ts';
import type { OutboxRecovery } from './recovery.ts';
import type { SegmentWriter } from './segmentWriter.ts';
import type { SyncSchedule } from './syncSchedule.ts';
import type { WriteQueue } from './writeQueue.ts';

/** The durable outbox as the disk-failure handling sees it: its numbering, its events, its `append`. */
export interface FailingOutbox extends EventEmitter<OutboxEvents> {
  lastSeq: number;
  readonly ackedSeq: number;
  durableSeq: number;
  append(encodedItem: string, recordClass: RecordClass, stateKey?: string): number;
}

export interface DiskFailureParts {
  outbox: FailingOutbox;
  /** True once the outbox is closed: no more attempts then. */
  closed: () => boolean;
  clock: Clock;
  epoch: string;
  sync: SyncPolicy;
  fallback: { limits: OutboxLimits; retry: { initialMs: number; maxMs: number } };
  meta: OutboxMetaKeeper;
  writer: SegmentWriter;
  queue: WriteQueue;
  schedule: SyncSchedule;
  recovery: OutboxRecovery;
}

/** The record `append` was writing when the disk failed (`seq` 0: none). */
export interface AppendingRecord {
  seq: number;
  recordClass: RecordClass;
  stateKey: string | undefined;
}

/**
 * A durable outbox's handling of a failing disk: entering the disk fallback (records held in memory, an
 * `outbox.disk-unavailable` event record, the disk tried again with backoff), leaving it once the disk
 * takes the held records (an `outbox.disk-restored` event record), and the numbering limit meanwhile:
 * a record is numbered from memory only when a restart would skip its number; past that it waits
 * unnumbered until the meta file or the disk takes a write.
 */
export class DiskFailure {
  /** Where records are held while the disk fails (undefined: the disk works). */
  fallback: DiskFallback | undefined;
  private readonly parts: DiskFailureParts;
  /** Dropped and coalesced in memory during failures that are over. */
  private droppedBefore = 0;
  private coalescedBefore = 0;
  /** `numberWaiting` is numbering the records that waited. */
  private numbering = false;

  constructor(parts: DiskFailureParts) {
    this.parts = parts;
  }

  /** Records dropped in memory, refused ones included. */
  get dropped(): number {
    return this.droppedBefore + (this.fallback ? this.fallback.tail.dropped + this.fallback.refused : 0);
  }

  get coalesced(): number {
    return this.coalescedBefore + (this.fallback?.tail.coalesced ?? 0);
  }

  /**
   * Whether the record `append` is about to number `seq` in memory must wait for a number instead; if so
   * it is held (see `numberWaiting`).
   */
  waits(record: WaitingRecord, seq: number): boolean {
    const fallback = this.fallback;
    if (!fallback || this.numbering || (fallback.waiting.length === 0 && this.numberable(seq))) return false;
    fallback.hold(record);
    if (fallback.waiting.length % 256 === 1) this.numberWaiting(fallback);
    return true;
  }

  /**
   * Whether `seq` may be handed out from memory: a restart resumes above it (it is within what the disk
   * accounts for, see `accountedSeq`).
   */
  private numberable(seq: number): boolean {
    return seq <= this.accountedSeq();
  }

  /**
   * Numbers the records waiting, in order, once the meta file notes that numbers up to them are handed
   * out from memory (or, `fallback` gone, the disk works again). Each goes through `append`.
   */
  private numberWaiting(fallback: DiskFallback): void {
    const waiting = fallback.waiting;
    if (waiting.length === 0) return;
    const outbox = this.parts.outbox;
    if (this.fallback === fallback && !this.numberable(outbox.lastSeq + waiting.length)) {
      if (!this.parts.meta.secure(outbox.lastSeq + waiting.length)) return;
    }
    const records = waiting.splice(0);
    this.numbering = this.fallback === fallback;
    try {
      for (const { text, recordClass, stateKey } of records) outbox.append(text, recordClass, stateKey);
    } finally {
      this.numbering = false;
    }
  }

  /**
   * The highest sequence number a restart would skip (recovery.ts): what is synced, the last reserve
   * entry, what this run's recovery accounted for, and the ceiling when the meta file says records are
   * held in memory.
   */
  private accountedSeq(): number {
    const { meta, schedule, recovery, outbox } = this.parts;
    const ceiling = meta.inMemoryOnDisk ? meta.ceilingSeq : 0;
    return Math.max(outbox.durableSeq, schedule.reserveSeq, recovery.lastSeq, ceiling);
  }

  /**
   * The disk failed: hold records in memory from here on, say so, and try the disk again later. True when
   * the record being appended (`appending`) was made to wait for a number instead.
   */
  enter(error: Error, appending: AppendingRecord): boolean {
    if (this.fallback) return false;
    const { outbox, meta, writer, queue, clock, epoch } = this.parts;
    this.parts.schedule.cancel();
    const { limits, retry } = this.parts.fallback;
    // A restart must know that records were in memory: then only the ceiling bounds what was handed out.
    // When the meta file cannot say so, the record being appended is refused unless it reached the segment
    // or a restart would skip its number anyway (else it could be handed out again: see `numberable`).
    const kept = Math.max(this.accountedSeq(), writer.writtenSeq);
    const waits = !meta.secure(outbox.lastSeq) && appending.seq > kept;
    const text = waits ? queue.dropLast() : undefined;
    if (waits) outbox.lastSeq--;
    const fallback = new DiskFallback(
      { clock, epoch, limits, retry, events: outbox },
      writer.writtenSeq,
      outbox.ackedSeq,
      queue,
    );
    this.fallback = fallback;
    writer.closeActive();
    if (text !== undefined)
      fallback.hold({ text, recordClass: appending.recordClass, stateKey: appending.stateKey });
    outbox.emit('storage', { durable: false, error, heldInMemory: fallback.tail.records });
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    this.appendEvent('outbox.disk-unavailable', {
      code,
      message: error.message,
      durableSeq: outbox.durableSeq,
    });
    fallback.scheduleRetry(() => this.retry(true));
    return text !== undefined;
  }

  /** Tries to write the records held in memory to disk; on success the outbox is durable again. */
  retry(again: boolean): void {
    const fallback = this.fallback;
    if (!fallback) return;
    const { outbox, meta, writer, schedule, clock } = this.parts;
    let recordsWritten: number;
    try {
      const seqs = { lastSeq: outbox.lastSeq, ackedSeq: outbox.ackedSeq };
      recordsWritten = fallback.writeBack(writer, meta, seqs, this.parts.sync === 'batch');
      schedule.reserveSeq = outbox.lastSeq;
    } catch {
      writer.closeActive();
      fallback.failed();
      this.numberWaiting(fallback); // the meta file may work even so
      if (again && !this.parts.closed()) fallback.scheduleRetry(() => this.retry(true));
      return;
    }
    this.fallback = undefined;
    this.droppedBefore += fallback.tail.dropped + fallback.refused;
    this.coalescedBefore += fallback.tail.coalesced;
    fallback.end();
    outbox.durableSeq = writer.writtenSeq;
    try {
      meta.write({ inMemory: false });
    } catch {
      // The meta file still says records were in memory: a restart then trusts only its ceiling.
    }
    outbox.emit('synced', outbox.durableSeq);
    outbox.emit('storage', { durable: true, heldInMemory: 0 });
    this.numberWaiting(fallback);
    if (this.parts.closed()) return;
    const unavailableMs = clock.now() - fallback.since;
    const restored: Record<string, Json> = { recordsWritten, unavailableMs };
    if (fallback.refused > 0) restored.recordsRefused = fallback.refused;
    this.appendEvent('outbox.disk-restored', restored);
  }

  /** An event record of the outbox's own (what happened to its disk), numbered like any other. */
  private appendEvent(name: string, data: Record<string, Json>): void {
    const now = this.parts.clock.now();
    this.parts.outbox.append(encodeRecord({ kind: 'event', name, data }, now), 'event');
  }
}

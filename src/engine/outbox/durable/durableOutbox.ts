import { EventEmitter } from 'eventemitter3';
import { encodeGap, type GapReason, type RecordClass } from '../../../protocol/records.ts';
import { type Clock, systemClock } from '../../../time/clock.ts';
import type { Outbox, OutboxBatch, OutboxEvents } from '../outbox.ts';
import type { OutboxLimits } from '../outboxDefaults.ts';
import { Compactor } from './compactor.ts';
import { DiskFailure } from './diskFailure.ts';
import { type DurableOutboxOptions, durableSettings, type SyncPolicy } from './durableOutboxOptions.ts';
import { nodeFileSystem, type OutboxFileSystem } from './fileSystem.ts';
import { HeldStates } from './heldStates.ts';
import { OutboxMetaKeeper } from './metaFile.ts';
import { type OutboxRecovery, openOutboxDirectory, tidyAfterRecovery } from './recovery.ts';
import { SegmentReader } from './segmentReader.ts';
import { SegmentWriter } from './segmentWriter.ts';
import { SyncSchedule } from './syncSchedule.ts';
import { WriteQueue } from './writeQueue.ts';

export type { StorageInfo } from '../outbox.ts';
export type { DurableOutboxOptions, SyncPolicy } from './durableOutboxOptions.ts';
export type { OutboxRecovery } from './recovery.ts';

/**
 * The durable outbox: the `Outbox` on disk, so that what the engine accepted survives a crash or a restart.
 *
 * Records go to write-ahead segment files as entries (see segmentEntry.ts), each with a CRC-32; a small
 * meta file keeps the epoch, the acknowledged sequence number and a ceiling above every sequence number
 * handed out. On start the outbox reads what is intact (recovery.ts), continues the numbering after the
 * last sequence number that may have been used, and reports every range it cannot account for as a gap
 * record: damage between intact entries and a torn tail as "corrupt", the unsynced window of a crash as
 * "unsynced". It never refuses to start: what cannot be read is reported, the rest kept.
 *
 * Its parts: the segment writer (appends, syncs, removes acknowledged segments), the segment reader (a
 * flush reads through a bounded window: memory stays at about the sparse index plus a megabyte, however
 * long the backlog), the compactor (over `maxBytes` or `maxRecords` the oldest segments are rewritten by
 * the memory outbox's policy: superseded states coalesced, then samples dropped, events never) and the
 * disk fallback (when the disk fails, records are held in memory, an `outbox.disk-unavailable` event
 * record is sent and the disk is tried again with backoff; once it works the held records are written
 * and an `outbox.disk-restored` event record follows; diskFailure.ts enters and leaves it, and holds records
 * unnumbered while a restart might hand their numbers out again).
 */
export class DurableOutbox extends EventEmitter<OutboxEvents> implements Outbox {
  readonly epoch: string;
  readonly path: string;
  readonly sync: SyncPolicy;
  readonly recovery: OutboxRecovery;
  lastSeq = 0;
  ackedSeq = 0;
  /** Every record up to here is on disk and synced. */
  durableSeq = 0;

  private readonly files: OutboxFileSystem;
  private readonly clock: Clock;
  private readonly limits: Required<OutboxLimits>;
  private readonly meta: OutboxMetaKeeper;
  private readonly writer: SegmentWriter;
  private readonly reader: SegmentReader;
  private readonly compactor: Compactor;
  /** Records accepted and not yet written (`batch`). */
  private readonly queue = new WriteQueue();
  private readonly schedule: SyncSchedule;
  /** The disk fallback and the numbering limit while the disk fails (see DiskFailure). */
  private readonly disk: DiskFailure;
  private droppedOnDisk = 0;
  private coalescedOnDisk = 0;
  private readonly states: HeldStates;
  private backpressure = false;
  private closed = false;
  /** The sequence number of the record `append` is syncing (0: none; -1: it was made to wait instead). */
  private appending = 0;
  private appendingClass: RecordClass = 'sample';
  private appendingKey: string | undefined;
  /** This process's hold on the directory (see outboxLock.ts). */
  private readonly lock: { release(): void };

  constructor(options: DurableOutboxOptions) {
    super();
    const settings = durableSettings(options);
    this.path = options.path;
    this.sync = settings.sync;
    this.files = options.fileSystem ?? nodeFileSystem;
    this.clock = options.clock ?? systemClock;
    this.limits = settings.limits;
    this.schedule = new SyncSchedule(
      this.clock,
      this.sync,
      settings.syncEveryMs,
      settings.syncEveryRecords,
      // Nothing came for a whole window: `release` (unless records are waiting after all).
      (release) => this.flush(release && this.queue.length === 0),
    );
    const { ceilingStep, segmentBytes } = settings;

    // Recovery: read what is intact, then decide where numbering continues.
    const { lock, metaFile, meta, scan, epoch, recovered } = openOutboxDirectory(
      this.files,
      this.path,
      options.engineId,
      ceilingStep,
      options.newEpoch,
    );
    this.lock = lock;
    this.epoch = epoch;
    const { lastIntact, damaged, lost, recovery } = recovered;
    this.states = new HeldStates(scan.latestState, scan.supersededStates);
    this.meta = new OutboxMetaKeeper(metaFile, this.epoch, ceilingStep, meta?.ceilingSeq ?? 0, () => ({
      ackedSeq: this.ackedSeq,
      inMemory: this.disk.fallback !== undefined,
    }));
    this.writer = new SegmentWriter({
      files: this.files,
      dir: this.path,
      epoch: this.epoch,
      segmentBytes,
      segments: scan.segments,
      nextSegmentNumber: scan.nextSegmentNumber,
      writtenSeq: lastIntact,
      releasing: (segment) => this.reader.release(segment),
    });
    this.reader = new SegmentReader({
      files: this.files,
      limits: this.limits,
      segmentAfter: (afterSeq) => this.writer.segmentAfter(afterSeq),
      gap: (gap) => this.emit('gap', gap),
      // Nothing is sent now; the next attempt starts afresh.
      failed: (error) =>
        this.emit('storage', {
          durable: !this.disk.fallback,
          error,
          heldInMemory: this.disk.fallback?.tail.records ?? 0,
        }),
    });
    this.compactor = new Compactor({
      files: this.files,
      dir: this.path,
      epoch: this.epoch,
      writer: this.writer,
      ackedSeq: () => this.ackedSeq,
      recordAcknowledged: () => this.meta.write({}),
      states: this.states,
      dropped: (gap) => {
        if (gap.reason === 'overflow') this.droppedOnDisk += gap.count;
        else this.coalescedOnDisk += gap.count;
        this.emit('gap', gap);
      },
      releasing: (segment) => this.reader.release(segment),
    });
    this.disk = new DiskFailure({
      outbox: this,
      closed: () => this.closed,
      clock: this.clock,
      epoch: this.epoch,
      sync: this.sync,
      fallback: settings.fallback,
      meta: this.meta,
      writer: this.writer,
      queue: this.queue,
      schedule: this.schedule,
      recovery,
    });
    this.lastSeq = this.durableSeq = lastIntact;
    this.ackedSeq = meta?.ackedSeq ?? 0;
    this.recovery = recovery;

    // Make the outcome durable before anything else (a second crash must find the same), then tidy up.
    if (lost) this.queue.push(encodeGap(lost.fromSeq, lost.toSeq, lost.count, lost.reason), lost.fromSeq);
    this.lastSeq = this.recovery.lastSeq;
    try {
      this.meta.write({ ceilingSeq: Math.max(this.meta.ceilingSeq, this.lastSeq) + ceilingStep });
      // A fresh segment for this run: from now on a missing last segment means damage.
      this.writer.openSegment();
    } catch (error) {
      this.enterFallback(error as Error);
    }
    this.schedule.reserveSeq = this.lastSeq;
    if (this.flush(true)) tidyAfterRecovery(this.files, scan);
    const reported = lost ? [...damaged, lost] : damaged;
    if (reported.length > 0)
      queueMicrotask(() => {
        for (const gap of reported) this.emit('gap', gap);
      });
  }

  /** Records held (not yet acknowledged), gap items included; the head segment is counted approximately. */
  get records(): number {
    const head = this.writer.segments[0];
    const acked = head ? head.records - head.heldAfter(this.ackedSeq).records : 0;
    const fallback = this.disk.fallback;
    const inMemory = fallback ? fallback.tail.records + fallback.waiting.length : 0;
    return this.writer.records - acked + this.queue.length + inMemory;
  }

  /** Bytes held: segment files, records waiting to be written, and records held in memory. */
  get bytes(): number {
    return this.writer.bytes + this.queue.bytes + (this.disk.fallback?.tail.bytes ?? 0);
  }

  get dropped(): number {
    return this.droppedOnDisk + this.disk.dropped;
  }

  get coalesced(): number {
    return this.coalescedOnDisk + this.disk.coalesced;
  }

  /** True while records are held in memory because the disk failed. */
  get inMemory(): boolean {
    return this.disk.fallback !== undefined;
  }

  append(encodedItem: string, recordClass: RecordClass, stateKey?: string): number {
    if (this.closed) throw new Error(`outbox ${this.path} is closed`);
    const seq = this.lastSeq + 1;
    const fallback = this.disk.fallback;
    if (fallback) {
      // No number can be handed out safely yet: the record waits for one (see DiskFailure).
      if (this.disk.waits({ text: encodedItem, recordClass, stateKey }, seq)) return 0;
      this.heldState(recordClass, stateKey, seq);
      this.lastSeq = seq;
      fallback.tail.append(encodedItem, recordClass, stateKey);
      this.meta.keepAhead(this.lastSeq);
      return seq;
    }
    this.queue.push(encodedItem, seq);
    this.lastSeq = seq;
    this.appending = seq;
    this.appendingClass = recordClass;
    this.appendingKey = stateKey;
    this.schedule.accepted(seq);
    // The disk failed on this very record, and a restart would not skip its number: it waits for one.
    const waits = this.appending < 0;
    this.appending = 0;
    if (waits) return 0;
    this.heldState(recordClass, stateKey, seq);
    if (this.overBound(1)) this.relieve();
    return seq;
  }

  private heldState(recordClass: RecordClass, stateKey: string | undefined, seq: number): void {
    if (recordClass === 'state' && stateKey !== undefined) this.states.appended(stateKey, seq, this.ackedSeq);
  }

  appendGap(fromSeq: number, toSeq: number, count: number, reason: GapReason): void {
    if (this.closed) throw new Error(`outbox ${this.path} is closed`);
    if (fromSeq !== this.lastSeq + 1 || toSeq < fromSeq)
      throw new RangeError(`gap ${fromSeq}..${toSeq} does not continue the outbox after ${this.lastSeq}`);
    this.lastSeq = toSeq;
    if (this.disk.fallback) {
      this.disk.fallback.tail.appendGap(fromSeq, toSeq, count, reason);
      this.meta.keepAhead(this.lastSeq);
      return;
    }
    // Written and synced at once, as the recovery's gap is: the numbering it moves must survive a crash.
    this.queue.push(encodeGap(fromSeq, toSeq, count, reason), fromSeq);
    this.flush();
  }

  acknowledge(seq: number): void {
    const upTo = Math.min(seq, this.lastSeq);
    if (upTo <= this.ackedSeq) return;
    this.ackedSeq = upTo;
    this.disk.fallback?.tail.acknowledge(upTo);
    const done = this.writer.acknowledgedSegments(upTo);
    if (done > 0 && !this.disk.fallback) {
      try {
        // Recorded before the files go: a restart must not take their absence for damage.
        this.meta.write({});
        this.writer.removeOldest(done);
      } catch (error) {
        this.enterFallback(error as Error);
      }
    }
    this.states.acknowledged(upTo);
    if (this.backpressure && !this.overBound(1)) {
      this.backpressure = false;
      this.emit('backpressure', { active: false, records: this.records, bytes: this.bytes });
    }
  }

  nextBatch(afterSeq: number): OutboxBatch | undefined {
    const writtenSeq = this.writer.writtenSeq;
    // What is on disk comes from disk (nothing, for now, when a read fails: never a batch that skips ahead).
    if (afterSeq < writtenSeq) return this.reader.batchAfter(afterSeq);
    if (this.disk.fallback) return this.disk.fallback.nextBatch(Math.max(afterSeq, writtenSeq));
    if (this.queue.length > 0 && afterSeq < this.lastSeq)
      return this.queue.batchAfter(afterSeq, this.lastSeq, this.limits);
    return undefined;
  }

  /** Writes and syncs every waiting record now (under `batch`; `always` has none waiting). */
  syncNow(): boolean {
    return this.flush();
  }

  /** Writes what waits, tries a failed disk once more, and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.schedule.cancel();
    this.disk.fallback?.cancelRetry();
    this.disk.retry(false);
    this.flush(true);
    this.closed = true;
    try {
      const clean = !this.disk.fallback;
      this.meta.write({
        clean,
        ceilingSeq: clean ? this.lastSeq : Math.max(this.meta.ceilingSeq, this.lastSeq),
      });
    } catch {
      // The last meta written still bounds every sequence number handed out.
    }
    this.reader.close();
    this.writer.closeActive();
    this.meta.close();
    this.lock.release();
  }

  // ---- writing ----

  /** Writes and syncs the waiting records, with the reserve the sync schedule asks for (see SyncSchedule). */
  private flush(release = false): boolean {
    const schedule = this.schedule;
    schedule.cancel();
    if (this.disk.fallback || this.closed) return false;
    const waiting = this.queue.length;
    if (schedule.idle(waiting, this.lastSeq, release)) return true;
    try {
      const reserve = schedule.reserveFor(waiting, this.lastSeq, release);
      const started = performance.now();
      this.meta.ensure(Math.max(this.lastSeq, reserve ?? 0));
      this.writer.write(this.queue.texts, this.queue.seqs, reserve);
      const sync = { records: waiting, durationMs: performance.now() - started };
      this.queue.clear();
      if (reserve !== undefined) schedule.reserveSeq = reserve;
      this.durableSeq = this.writer.writtenSeq;
      this.emit('synced', this.durableSeq, sync);
      schedule.afterSync(this.lastSeq);
      return true;
    } catch (error) {
      this.enterFallback(error as Error);
      return false;
    }
  }

  // ---- the overflow policy ----

  private overBound(share: number): boolean {
    return this.records > this.limits.maxRecords * share || this.bytes > this.limits.maxBytes * share;
  }

  /** The overflow policy over the segments (see Compactor); then backpressure, if only events are left. */
  private relieve(): void {
    if (!this.disk.fallback) {
      try {
        this.compactor.relieve((share) => this.overBound(share));
      } catch (error) {
        this.enterFallback(error as Error);
      }
    }
    if (this.overBound(1) && !this.backpressure) {
      this.backpressure = true;
      this.emit('backpressure', { active: true, records: this.records, bytes: this.bytes });
    }
  }

  // ---- a failing disk ----

  /** The disk failed: hold records in memory from here on (see DiskFailure). */
  private enterFallback(error: Error): void {
    const appending = { seq: this.appending, recordClass: this.appendingClass, stateKey: this.appendingKey };
    if (this.disk.enter(error, appending)) this.appending = -1;
  }
}

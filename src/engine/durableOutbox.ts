import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import {
  encodeGap,
  encodeRecord,
  type GapItem,
  type GapReason,
  type Item,
  itemClass,
  itemSpan,
  type RecordClass,
} from '../protocol/records.ts';
import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts';
import { checkDuration } from '../time/timerBounds.ts';
import { MemoryOutbox, newEpoch, type OutboxLimits } from './memoryOutbox.ts';
import type { GapInfo, Outbox, OutboxBatch, OutboxEvents } from './outbox.ts';
import { nodeFileSystem, type OutboxFileSystem, syncDirectory, writeFully } from './outboxFileSystem.ts';
import { lockOutbox } from './outboxLock.ts';
import { type OutboxMeta, OutboxMetaFile } from './outboxMeta.ts';
import { claimOutbox } from './outboxOwner.ts';
import { scanSegments } from './outboxRecovery.ts';
import { OutboxSegment } from './outboxSegment.ts';
import { applyOverflowPolicy, type HeldItem } from './overflowPolicy.ts';
import {
  isItemKind,
  itemRecordKind,
  maxRecordBytes,
  RECORD_OVERHEAD_BYTES,
  RecordKind,
  SEGMENT_FORMAT,
  writeRecord,
} from './segmentRecord.ts';
import { SegmentScanner } from './segmentScanner.ts';

export type { StorageInfo } from './outbox.ts';

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
  /** File operations (tests inject failures). Default `node:fs`. */
  fileSystem?: OutboxFileSystem;
}

export const DEFAULT_DURABLE_OUTBOX_LIMITS = {
  maxRecords: Number.MAX_SAFE_INTEGER,
  maxBytes: 1024 * 1024 * 1024,
  batchRecords: 1000,
  batchBytes: 256 * 1024,
} as const;

/** What opening the outbox found on disk. */
export interface OutboxRecovery {
  /** An existing outbox was resumed (false: a new one, or nothing on disk was readable). */
  resumed: boolean;
  /** The last sequence number recovered (a lost range included): new records continue after it. */
  lastSeq: number;
  /** Intact records found that the aggregator had not acknowledged. */
  records: number;
  /** Ranges between intact records whose records were unreadable; each reaches the aggregator as a gap. */
  damaged: GapInfo[];
  /**
   * The range after the last intact record that may have been handed out but is not on disk: the unsynced
   * window of a crash ("unsynced"), or a damaged tail ("corrupt"). Its count is an upper bound.
   */
  lost: GapInfo | undefined;
  /** Bytes skipped as unreadable. */
  damagedBytes: number;
}

const META_FILE = 'outbox.meta';
/** Once over a bound, the policy frees down to this share of it. */
const LOW_WATER = 0.9;
/** The smallest window reserved for records waiting to be synced under `batch`. */
const MIN_WINDOW_RESERVE = 256;
/** Bytes encoded before they are written out, within one sync. */
const WRITE_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The durable outbox: the `Outbox` on disk, so that what the engine accepted survives a crash or a restart.
 *
 * Records go to write-ahead segment files (see `segmentRecord.ts`), each record with a CRC-32; a small
 * meta file keeps the epoch, the acknowledged sequence number and a ceiling above every sequence number
 * handed out. On start the outbox reads what is intact, continues the numbering after the last sequence
 * number that may have been used, and reports every range it cannot account for as a gap record: damage
 * between intact records and a torn tail as "corrupt", the unsynced window of a crash as "unsynced". It
 * never refuses to start: what cannot be read is reported, the rest kept.
 *
 * Acknowledged segments are deleted. Over `maxBytes` (or `maxRecords`) the oldest segments are rewritten
 * by the memory outbox's policy: superseded states coalesced, then samples dropped, events never. When the
 * disk fails (ENOSPC, EIO), records are held in memory (bounded by `memoryFallback`), an
 * `outbox.disk-unavailable` event record is sent, and the disk is tried again with backoff; when it works
 * again the held records are written and an `outbox.disk-restored` event record follows.
 *
 * A flush reads segments through a bounded window, never the whole backlog: memory stays at about the
 * sparse index (a few numbers per 64 KiB) plus a megabyte, however long the backlog.
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
  private readonly segmentBytes: number;
  private readonly syncEveryMs: number;
  private readonly syncEveryRecords: number;
  private readonly ceilingStep: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly fallbackLimits: OutboxLimits;
  private readonly meta: OutboxMetaFile;

  private segments: OutboxSegment[];
  /** The segment being appended to (the last one), while its descriptor is open. */
  private active: OutboxSegment | undefined;
  private nextSegmentNumber: number;
  private diskRecords = 0;
  private diskBytes = 0;
  private diskSamples = 0;
  /** The last sequence number whose record is written to disk. */
  private writtenSeq = 0;
  /** The highest sequence number a reserve record promised (`batch`): the next sync happens by then. */
  private reserveSeq = 0;
  /** No sequence number above this has been handed out (kept in the meta file). */
  private ceilingSeq: number;
  private retryCeilingAt = 0;

  /** Records accepted and not yet written (`batch`): texts and their sequence numbers. */
  private pendingTexts: string[] = [];
  private pendingSeqs: number[] = [];
  private pendingBytes = 0;
  /** Where records are held while the disk fails. */
  private fallback: MemoryOutbox | undefined;
  private fallbackSince = 0;
  private droppedOnDisk = 0;
  private coalescedOnDisk = 0;

  private readonly latestState = new Map<string, number>();
  private supersededStates = 0;
  private backpressure = false;
  private syncTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private retryAttempt = 0;
  private reader:
    | { segment: OutboxSegment; fd: number; scanner: SegmentScanner; nextSeq: number }
    | undefined;
  private writeBuffer = Buffer.allocUnsafe(64 * 1024);
  /** Scratch for `writeRecords`: kind, seq, end seq, offset, size of each record encoded, not yet written. */
  private readonly notes: number[] = [];
  private closed = false;
  /** This process's hold on the directory (see outboxLock.ts). */
  private readonly lock: { release(): void };

  constructor(options: DurableOutboxOptions) {
    super();
    this.path = options.path;
    this.sync = options.sync ?? 'batch';
    if (this.sync !== 'always' && this.sync !== 'batch')
      throw new RangeError(`outbox sync must be "always" or "batch" (got ${JSON.stringify(this.sync)})`);
    this.files = options.fileSystem ?? nodeFileSystem;
    this.clock = options.clock ?? systemClock;
    this.limits = {
      maxRecords: options.maxRecords ?? DEFAULT_DURABLE_OUTBOX_LIMITS.maxRecords,
      maxBytes: options.maxBytes ?? DEFAULT_DURABLE_OUTBOX_LIMITS.maxBytes,
      batchRecords: options.batchRecords ?? DEFAULT_DURABLE_OUTBOX_LIMITS.batchRecords,
      batchBytes: options.batchBytes ?? DEFAULT_DURABLE_OUTBOX_LIMITS.batchBytes,
    };
    this.segmentBytes =
      options.segmentBytes ?? Math.min(16 * 1024 * 1024, Math.max(64 * 1024, this.limits.maxBytes / 16));
    this.syncEveryMs = options.syncEveryMs ?? 100;
    this.syncEveryRecords = Math.max(1, options.syncEveryRecords ?? 10_000);
    this.ceilingStep = this.sync === 'always' ? 1000 : 4 * this.syncEveryRecords;
    checkDuration('syncEveryMs', options.syncEveryMs);
    checkDuration('diskRetry.initialMs', options.diskRetry?.initialMs);
    checkDuration('diskRetry.maxMs', options.diskRetry?.maxMs);
    this.retryInitialMs = options.diskRetry?.initialMs ?? 1000;
    this.retryMaxMs = options.diskRetry?.maxMs ?? 30_000;
    this.fallbackLimits = { maxRecords: 1_000_000, maxBytes: 64 * 1024 * 1024, ...options.memoryFallback };

    // Recovery: read what is intact, then decide where numbering continues.
    this.files.mkdirSync(this.path, { recursive: true });
    this.lock = lockOutbox(this.path);
    try {
      claimOutbox(this.path, options.engineId);
    } catch (error) {
      this.lock.release();
      throw error;
    }
    const opened = OutboxMetaFile.open(this.files, this.path, join(this.path, META_FILE));
    this.meta = opened.file;
    const meta = opened.meta;
    const ackedSeq = meta?.ackedSeq ?? 0;
    const scan = scanSegments(this.files, this.path, ackedSeq);
    this.epoch = meta?.epoch ?? scan.epoch ?? newEpoch();
    this.segments = scan.segments;
    this.nextSegmentNumber = scan.nextSegmentNumber;
    for (const segment of this.segments) this.countSegment(segment, 1);
    for (const [key, seq] of scan.latestState) this.latestState.set(key, seq);
    this.supersededStates = scan.supersededStates;
    const lastIntact = Math.max(scan.lastEnd, ackedSeq);
    const lost = lostRange(meta, scan, lastIntact, this.ceilingStep);
    this.lastSeq = this.writtenSeq = this.durableSeq = lastIntact;
    this.ackedSeq = ackedSeq;
    this.ceilingSeq = meta?.ceilingSeq ?? 0;
    const damaged = scan.holes.map(
      (hole): GapInfo => ({ ...hole, count: hole.toSeq - hole.fromSeq + 1, reason: 'corrupt' }),
    );
    this.recovery = {
      resumed: meta !== undefined || scan.epoch !== undefined,
      lastSeq: lost ? lost.toSeq : lastIntact,
      records: this.diskRecords,
      damaged,
      lost,
      damagedBytes: scan.damagedBytes,
    };

    // Make the outcome durable before anything else (a second crash must find the same), then tidy up.
    if (lost) this.appendPending(encodeGap(lost.fromSeq, lost.toSeq, lost.count, lost.reason), lost.fromSeq);
    this.lastSeq = this.recovery.lastSeq;
    try {
      this.writeMeta({ ceilingSeq: Math.max(this.ceilingSeq, this.lastSeq) + this.ceilingStep });
      // A fresh segment for this run: from now on a missing last segment means damage.
      this.activeSegment();
    } catch (error) {
      this.enterFallback(error as Error);
    }
    this.reserveSeq = this.lastSeq;
    if (this.flush(true)) this.tidy(scan.obsolete, scan.truncate);
    const reported = lost ? [...damaged, lost] : damaged;
    if (reported.length > 0)
      queueMicrotask(() => {
        for (const gap of reported) this.emit('gap', gap);
      });
  }

  /** Records held (not yet acknowledged), gap items included; the head segment is counted approximately. */
  get records(): number {
    const head = this.segments[0];
    const acked = head ? head.records - head.heldAfter(this.ackedSeq).records : 0;
    return this.diskRecords - acked + this.pendingTexts.length + (this.fallback?.records ?? 0);
  }

  /** Bytes held: segment files, records waiting to be written, and records held in memory. */
  get bytes(): number {
    return this.diskBytes + this.pendingBytes + (this.fallback?.bytes ?? 0);
  }

  get dropped(): number {
    return this.droppedOnDisk + (this.fallback?.dropped ?? 0);
  }

  get coalesced(): number {
    return this.coalescedOnDisk + (this.fallback?.coalesced ?? 0);
  }

  /** True while records are held in memory because the disk failed. */
  get inMemory(): boolean {
    return this.fallback !== undefined;
  }

  append(encodedItem: string, recordClass: RecordClass, stateKey?: string): number {
    if (this.closed) throw new Error(`outbox ${this.path} is closed`);
    const seq = this.lastSeq + 1;
    if (recordClass === 'state' && stateKey !== undefined) {
      const previous = this.latestState.get(stateKey);
      if (previous !== undefined && previous > this.ackedSeq) this.supersededStates++;
      this.latestState.set(stateKey, seq);
    }
    if (this.fallback) {
      this.lastSeq = seq;
      this.fallback.append(encodedItem, recordClass, stateKey);
      this.keepCeilingAhead();
      return seq;
    }
    this.appendPending(encodedItem, seq);
    this.lastSeq = seq;
    if (this.sync === 'always' || seq >= this.reserveSeq) this.flush();
    else this.syncTimer ??= this.clock.setTimeout(this.syncDue, this.syncEveryMs);
    if (this.overBound(1)) this.relieve();
    return seq;
  }

  appendGap(fromSeq: number, toSeq: number, count: number, reason: GapReason): void {
    if (this.closed) throw new Error(`outbox ${this.path} is closed`);
    if (fromSeq !== this.lastSeq + 1 || toSeq < fromSeq)
      throw new RangeError(`gap ${fromSeq}..${toSeq} does not continue the outbox after ${this.lastSeq}`);
    this.lastSeq = toSeq;
    if (this.fallback) {
      this.fallback.appendGap(fromSeq, toSeq, count, reason);
      this.keepCeilingAhead();
      return;
    }
    // Written and synced at once, as the recovery's gap is: the numbering it moves must survive a crash.
    this.appendPending(encodeGap(fromSeq, toSeq, count, reason), fromSeq);
    this.flush();
  }

  acknowledge(seq: number): void {
    const upTo = Math.min(seq, this.lastSeq);
    if (upTo <= this.ackedSeq) return;
    this.ackedSeq = upTo;
    this.fallback?.acknowledge(upTo);
    let done = 0;
    while (done < this.segments.length) {
      const segment = this.segments[done]!;
      if (segment === this.active || segment.endSeq > upTo) break;
      done++;
    }
    if (done > 0 && !this.fallback) {
      try {
        // Recorded before the files go: a restart must not take their absence for damage.
        this.writeMeta({});
        for (const segment of this.segments.splice(0, done)) this.removeSegment(segment);
      } catch (error) {
        this.enterFallback(error as Error);
      }
    }
    if (this.latestState.size > 4096)
      for (const [key, at] of this.latestState) if (at <= upTo) this.latestState.delete(key);
    if (this.backpressure && !this.overBound(1)) {
      this.backpressure = false;
      this.emit('backpressure', { active: false, records: this.records, bytes: this.bytes });
    }
  }

  nextBatch(afterSeq: number): OutboxBatch | undefined {
    // What is on disk comes from disk (nothing, for now, when a read fails: never a batch that skips ahead).
    if (afterSeq < this.writtenSeq) return this.diskBatch(afterSeq);
    if (this.fallback) return this.fallback.nextBatch(Math.max(afterSeq, this.writtenSeq));
    if (this.pendingTexts.length > 0 && afterSeq < this.lastSeq) return this.pendingBatch(afterSeq);
    return undefined;
  }

  /** Writes and syncs every waiting record now (under `batch`; `always` has none waiting). */
  syncNow(): boolean {
    return this.flush();
  }

  /** Writes what waits, tries a failed disk once more, and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.syncTimer?.cancel();
    this.retryTimer?.cancel();
    this.syncTimer = this.retryTimer = undefined;
    if (this.fallback) this.retryDisk(false);
    this.flush(true);
    this.closed = true;
    try {
      const clean = !this.fallback;
      this.writeMeta({
        clean,
        ceilingSeq: clean ? this.lastSeq : Math.max(this.ceilingSeq, this.lastSeq),
      });
    } catch {
      // The last meta written still bounds every sequence number handed out.
    }
    this.closeReader();
    this.closeActive();
    this.meta.close();
    this.lock.release();
  }

  // ---- writing ----

  private readonly syncDue = (): void => {
    this.syncTimer = undefined;
    this.flush(this.pendingTexts.length === 0);
  };

  private appendPending(text: string, seq: number): void {
    this.pendingTexts.push(text);
    this.pendingSeqs.push(seq);
    this.pendingBytes += text.length + RECORD_OVERHEAD_BYTES;
  }

  private clearPending(): void {
    this.pendingTexts = [];
    this.pendingSeqs = [];
    this.pendingBytes = 0;
  }

  /**
   * Writes and syncs the waiting records. Under `batch` a reserve record goes with them: the sequence
   * numbers that may be handed out before the next sync (twice the last window, at least 256, at most
   * `syncEveryRecords`; reaching it forces the next sync), so that a crash can report exactly that window.
   * With `release` (nothing came for a whole window) it reserves nothing: an idle engine that crashes
   * has nothing to report, and its next record is synced at once.
   */
  private flush(release = false): boolean {
    this.syncTimer?.cancel();
    this.syncTimer = undefined;
    if (this.fallback || this.closed) return false;
    const waiting = this.pendingTexts.length;
    if (waiting === 0) {
      if (this.sync === 'always') return true;
      if (release ? this.reserveSeq <= this.lastSeq : this.reserveSeq > this.lastSeq) return true;
    }
    try {
      const window = Math.min(this.syncEveryRecords, Math.max(MIN_WINDOW_RESERVE, 2 * waiting));
      const reserve = this.sync === 'always' ? undefined : release ? this.lastSeq : this.lastSeq + window;
      this.ensureCeiling(Math.max(this.lastSeq, reserve ?? 0));
      this.writeRecords(this.pendingTexts, this.pendingSeqs, reserve);
      this.clearPending();
      if (reserve !== undefined) this.reserveSeq = reserve;
      this.durableSeq = this.writtenSeq;
      this.emit('synced', this.durableSeq);
      // Under `batch`, a window later: sync what came meanwhile, or give the reservation back.
      if (this.reserveSeq > this.lastSeq)
        this.syncTimer = this.clock.setTimeout(this.syncDue, this.syncEveryMs);
      return true;
    } catch (error) {
      this.enterFallback(error as Error);
      return false;
    }
  }

  /**
   * Writes records (texts with their sequence numbers, in order) to the segments, starting new segments as
   * they fill, followed by a reserve record when `reserveSeq` is given; syncs each segment written to.
   * Throws what the file system throws, `writtenSeq` telling how far it got.
   */
  private writeRecords(
    texts: readonly string[],
    seqs: readonly number[],
    reserveSeq: number | undefined,
  ): void {
    const notes = this.notes;
    let i = 0;
    do {
      const segment = this.activeSegment();
      let length = 0;
      let noted = 0;
      let full = false;
      for (; i < texts.length; i++) {
        const text = texts[i]!;
        this.reserveWriteBuffer(length + maxRecordBytes(text));
        const kind = itemRecordKind(text);
        const seq = seqs[i]!;
        const end = writeRecord(this.writeBuffer, length, kind, seq, text);
        // A segment takes at least one record, and otherwise no more than its size.
        if (segment.records + noted > 0 && segment.size + end > this.segmentBytes) {
          full = true;
          break;
        }
        const n = noted++ * 5;
        notes[n] = kind;
        notes[n + 1] = seq;
        notes[n + 2] = kind === RecordKind.gap ? (JSON.parse(text) as GapItem)[2] : seq;
        notes[n + 3] = length;
        notes[n + 4] = end - length;
        length = end;
        if (length >= WRITE_CHUNK_BYTES) {
          this.commit(segment, length, noted);
          length = noted = 0;
        }
      }
      if (!full && reserveSeq !== undefined) {
        this.reserveWriteBuffer(length + RECORD_OVERHEAD_BYTES);
        const end = writeRecord(this.writeBuffer, length, RecordKind.reserve, reserveSeq, '');
        const n = noted++ * 5;
        notes[n] = RecordKind.reserve;
        notes[n + 1] = notes[n + 2] = reserveSeq;
        notes[n + 3] = length;
        notes[n + 4] = end - length;
        length = end;
      }
      if (length > 0) this.commit(segment, length, noted);
      this.files.fdatasyncSync(segment.fd!);
      if (full) this.closeActive();
    } while (i < texts.length);
  }

  /** Writes the encoded records out at the segment's end and accounts for them (`notes`: 5 numbers each). */
  private commit(segment: OutboxSegment, length: number, noted: number): void {
    writeFully(this.files, segment.fd!, this.writeBuffer, length, segment.size);
    const base = segment.size;
    const notes = this.notes;
    for (let n = 0; n < noted * 5; n += 5) {
      const kind = notes[n] as RecordKind;
      segment.noteRecord(kind, notes[n + 1]!, notes[n + 2]!, base + notes[n + 3]!, notes[n + 4]!);
      if (kind === RecordKind.reserve) continue;
      this.diskRecords++;
      if (kind === RecordKind.sample) this.diskSamples++;
      this.writtenSeq = notes[n + 2]!;
    }
    this.diskBytes += length;
  }

  /** The segment to append to: the open one while it has room, else a new one (synced, with its header). */
  private activeSegment(): OutboxSegment {
    const current = this.active;
    if (current && current.size < this.segmentBytes) return current;
    if (current) this.closeActive();
    const segment = new OutboxSegment(this.path, this.nextSegmentNumber++);
    // Empty, it covers nothing after what is written (keeps `endSeq` ordered across segments).
    segment.endSeq = this.writtenSeq;
    const fd = this.files.openSync(segment.path, 'w+');
    try {
      const header = JSON.stringify({ format: SEGMENT_FORMAT, epoch: this.epoch, segment: segment.number });
      this.reserveWriteBuffer(maxRecordBytes(header));
      const end = writeRecord(this.writeBuffer, 0, RecordKind.segmentHeader, this.writtenSeq + 1, header);
      writeFully(this.files, fd, this.writeBuffer, end, 0);
      this.files.fdatasyncSync(fd);
      syncDirectory(this.files, this.path);
      segment.noteRecord(RecordKind.segmentHeader, this.writtenSeq + 1, 0, 0, end);
    } catch (error) {
      this.files.closeSync(fd);
      tryUnlink(this.files, segment.path);
      throw error;
    }
    segment.fd = fd;
    this.diskBytes += segment.size;
    this.segments.push(segment);
    this.active = segment;
    return segment;
  }

  private closeActive(): void {
    const active = this.active;
    this.active = undefined;
    if (active?.fd === undefined) return;
    try {
      // Bytes of a write that failed half-way are cut off, so the file ends with its last intact record.
      if (this.files.fstatSync(active.fd).size > active.size)
        this.files.ftruncateSync(active.fd, active.size);
    } catch {
      // Recovery skips them anyway.
    }
    try {
      this.files.closeSync(active.fd);
    } catch {
      // Nothing more to do with it.
    }
    active.fd = undefined;
  }

  private writeMeta(changes: Partial<OutboxMeta>): void {
    const meta: OutboxMeta = {
      epoch: this.epoch,
      ceilingSeq: this.ceilingSeq,
      ackedSeq: this.ackedSeq,
      clean: false,
      inMemory: this.fallback !== undefined,
      ...changes,
    };
    this.meta.write(meta);
    this.ceilingSeq = meta.ceilingSeq;
  }

  /** Raises the meta file's ceiling before a sequence number above it can be written or sent. */
  private ensureCeiling(seq: number): void {
    if (seq > this.ceilingSeq) this.writeMeta({ ceilingSeq: seq + this.ceilingStep });
  }

  private reserveWriteBuffer(bytes: number): void {
    if (bytes <= this.writeBuffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(bytes, this.writeBuffer.length * 2));
    this.writeBuffer.copy(bigger);
    this.writeBuffer = bigger;
  }

  private countSegment(segment: OutboxSegment, sign: 1 | -1): void {
    this.diskRecords += sign * segment.records;
    this.diskBytes += sign * segment.size;
    this.diskSamples += sign * segment.samples;
  }

  private removeSegment(segment: OutboxSegment): void {
    if (this.reader?.segment === segment) this.closeReader();
    if (this.active === segment) this.closeActive();
    this.countSegment(segment, -1);
    tryUnlink(this.files, segment.path);
  }

  /** Removes files recovery found obsolete and cuts damaged tails, once the recovery is durable. */
  private tidy(obsolete: readonly string[], truncate: ReadonlyArray<{ path: string; size: number }>): void {
    for (const path of obsolete) tryUnlink(this.files, path);
    for (const { path, size } of truncate) {
      try {
        const fd = this.files.openSync(path, 'r+');
        try {
          this.files.ftruncateSync(fd, size);
        } finally {
          this.files.closeSync(fd);
        }
      } catch {
        // Readers stop at the last intact record anyway.
      }
    }
  }

  // ---- reading ----

  /** The next batch from the segments: intact records after `afterSeq`, unreadable ranges as gaps. */
  private diskBatch(afterSeq: number): OutboxBatch | undefined {
    let lo = 0;
    let hi = this.segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid]!.endSeq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    const segment = this.segments[lo];
    if (!segment) return undefined;
    try {
      return this.readBatch(segment, afterSeq);
    } catch (error) {
      // A read failed: nothing is sent now; the next attempt starts afresh.
      this.closeReader();
      this.emit('storage', {
        durable: !this.fallback,
        error: error as Error,
        heldInMemory: this.heldInMemory(),
      });
      return undefined;
    }
  }

  private readBatch(segment: OutboxSegment, afterSeq: number): OutboxBatch | undefined {
    const reader = this.readerFor(segment, afterSeq);
    const scanner = reader.scanner;
    scanner.limit = segment.size;
    const parts: string[] = [];
    let bytes = 0;
    let from = 0;
    let expected = afterSeq + 1;
    while (parts.length < this.limits.batchRecords && bytes < this.limits.batchBytes && scanner.next()) {
      const view = scanner.view;
      if (!isItemKind(view.kind)) continue;
      const text = scanner.payloadText();
      const endSeq = view.kind === RecordKind.gap ? (JSON.parse(text) as GapItem)[2] : view.seq;
      // Already sent, or left over from before a truncation (not continuing the sequence).
      if (endSeq <= afterSeq || (from !== 0 && view.seq < expected)) continue;
      if (view.seq > expected) {
        // Records missing between intact ones: damage found on recovery (or since). Say so.
        const gap = encodeGap(expected, view.seq - 1, view.seq - expected, 'corrupt');
        parts.push(gap);
        bytes += gap.length + 1;
        if (from === 0) from = expected;
      }
      if (from === 0) from = view.seq;
      parts.push(text);
      bytes += text.length + 1;
      expected = endSeq + 1;
    }
    if (parts.length === 0) {
      if (segment.endSeq <= afterSeq) return undefined;
      // Nothing readable is left of this segment's range: it went bad after it was written.
      const gap: GapInfo = { fromSeq: afterSeq + 1, toSeq: segment.endSeq, count: 0, reason: 'corrupt' };
      gap.count = gap.toSeq - gap.fromSeq + 1;
      this.emit('gap', gap);
      reader.nextSeq = segment.endSeq + 1;
      return {
        from: gap.fromSeq,
        to: gap.toSeq,
        text: encodeGap(gap.fromSeq, gap.toSeq, gap.count, gap.reason),
        records: 1,
      };
    }
    reader.nextSeq = expected;
    return { from, to: expected - 1, text: parts.join(','), records: parts.length };
  }

  /** A reader positioned to find the records after `afterSeq` in `segment`: the current one when it is there. */
  private readerFor(segment: OutboxSegment, afterSeq: number): NonNullable<DurableOutbox['reader']> {
    const current = this.reader;
    if (current && current.segment === segment && current.nextSeq === afterSeq + 1) return current;
    this.closeReader();
    const fd = this.files.openSync(segment.path, 'r');
    const scanner = new SegmentScanner(this.files, fd, segment.offsetFor(afterSeq + 1), segment.size);
    this.reader = { segment, fd, scanner, nextSeq: afterSeq + 1 };
    return this.reader;
  }

  private closeReader(): void {
    const reader = this.reader;
    this.reader = undefined;
    if (!reader) return;
    try {
      this.files.closeSync(reader.fd);
    } catch {
      // Nothing more to do with it.
    }
  }

  /** The next batch from the records not yet written (`batch`). */
  private pendingBatch(afterSeq: number): OutboxBatch | undefined {
    const seqs = this.pendingSeqs;
    // The last waiting record starting at or before afterSeq + 1 (a gap may span it), else the first.
    let lo = 0;
    let hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqs[mid]! <= afterSeq + 1) lo = mid + 1;
      else hi = mid;
    }
    const first = Math.max(0, lo - 1);
    let last = first;
    let bytes = 0;
    while (last < seqs.length && last - first < this.limits.batchRecords && bytes < this.limits.batchBytes) {
      bytes += this.pendingTexts[last]!.length + 1;
      last++;
    }
    const to = last < seqs.length ? seqs[last]! - 1 : this.lastSeq;
    if (to <= afterSeq) return undefined;
    return {
      from: seqs[first]!,
      to,
      text: this.pendingTexts.slice(first, last).join(','),
      records: last - first,
    };
  }

  // ---- the overflow policy ----

  private overBound(share: number): boolean {
    return this.records > this.limits.maxRecords * share || this.bytes > this.limits.maxBytes * share;
  }

  /** The policy over the segments, oldest first: coalesce superseded states, then drop samples, never events. */
  private relieve(): void {
    if (!this.fallback) {
      try {
        if (this.supersededStates > 0) {
          for (const segment of [...this.segments]) {
            if (!this.overBound(LOW_WATER)) break;
            if (segment.states > 0 && segment.endSeq > this.ackedSeq) this.compact(segment, false);
          }
          if (this.overBound(LOW_WATER)) this.supersededStates = 0;
        }
        if (this.diskSamples > 0)
          for (const segment of [...this.segments]) {
            if (!this.overBound(LOW_WATER)) break;
            if (segment.samples > 0 && segment.endSeq > this.ackedSeq) this.compact(segment, true);
          }
      } catch (error) {
        this.enterFallback(error as Error);
      }
    }
    if (this.overBound(1) && !this.backpressure) {
      this.backpressure = true;
      this.emit('backpressure', { active: true, records: this.records, bytes: this.bytes });
    }
  }

  /**
   * Rewrites a segment under the overflow policy (through a temporary file, synced, renamed over the old
   * one), leaving gap items for what it dropped. Records already acknowledged are left out: the meta file
   * says so first, so a restart does not take their absence for damage.
   */
  private compact(segment: OutboxSegment, dropSamples: boolean): void {
    this.writeMeta({});
    const held: HeldItem[] = [];
    let reserveSeq = 0;
    const fd = this.files.openSync(segment.path, 'r');
    try {
      const scanner = new SegmentScanner(this.files, fd, 0, segment.size);
      while (scanner.next()) {
        const view = scanner.view;
        if (view.kind === RecordKind.reserve) reserveSeq = view.seq;
        if (!isItemKind(view.kind)) continue;
        const item = JSON.parse(scanner.payloadText()) as Item;
        if (view.seq + itemSpan(item) - 1 > this.ackedSeq) held.push({ seq: view.seq, item });
      }
    } finally {
      this.files.closeSync(fd);
    }
    const result = applyOverflowPolicy(held, {
      dropSamples,
      isSuperseded: (key, at) => (this.latestState.get(key) ?? at) > at,
    });

    const temporary = `${segment.path}.tmp`;
    const out = this.files.openSync(temporary, 'w');
    const notes: Array<[RecordKind, number, number, number, number]> = [];
    try {
      let written = 0;
      let length = 0;
      const put = (kind: RecordKind, seq: number, endSeq: number, text: string) => {
        this.reserveWriteBuffer(length + maxRecordBytes(text));
        const end = writeRecord(this.writeBuffer, length, kind, seq, text);
        notes.push([kind, seq, endSeq, written + length, end - length]);
        length = end;
        if (length < WRITE_CHUNK_BYTES) return;
        writeFully(this.files, out, this.writeBuffer, length, written);
        written += length;
        length = 0;
      };
      const header = JSON.stringify({ format: SEGMENT_FORMAT, epoch: this.epoch, segment: segment.number });
      put(RecordKind.segmentHeader, result.kept[0]?.seq ?? segment.firstSeq, 0, header);
      for (const { seq, item } of result.kept) {
        const text = JSON.stringify(item);
        put(itemRecordKind(text), seq, seq + itemSpan(item) - 1, text);
      }
      if (reserveSeq > 0) put(RecordKind.reserve, reserveSeq, reserveSeq, '');
      writeFully(this.files, out, this.writeBuffer, length, written);
      this.files.fdatasyncSync(out);
    } catch (error) {
      this.files.closeSync(out);
      tryUnlink(this.files, temporary);
      throw error;
    }
    this.files.closeSync(out);
    if (this.reader?.segment === segment) this.closeReader();
    const wasActive = this.active === segment;
    if (wasActive) this.closeActive();
    this.files.renameSync(temporary, segment.path);
    syncDirectory(this.files, this.path);

    this.countSegment(segment, -1);
    const endSeq = segment.endSeq;
    segment.reset();
    segment.endSeq = endSeq;
    for (const [kind, seq, end, offset, bytes] of notes) segment.noteRecord(kind, seq, end, offset, bytes);
    this.countSegment(segment, 1);
    if (wasActive) {
      segment.fd = this.files.openSync(segment.path, 'r+');
      this.active = segment;
    }
    for (const info of result.dropped) {
      if (info.reason === 'overflow') this.droppedOnDisk += info.count;
      else {
        this.coalescedOnDisk += info.count;
        this.supersededStates = Math.max(0, this.supersededStates - info.count);
      }
      this.emit('gap', info);
    }
  }

  // ---- a failing disk ----

  private heldInMemory(): number {
    return this.fallback?.records ?? 0;
  }

  /** The disk failed: hold records in memory from here on, say so, and try the disk again later. */
  private enterFallback(error: Error): void {
    if (this.fallback) return;
    this.syncTimer?.cancel();
    this.syncTimer = undefined;
    const tail = new MemoryOutbox(this.fallbackLimits, this.epoch, this.writtenSeq);
    tail.on('gap', (gap) => this.emit('gap', gap));
    tail.on('backpressure', (info) => this.emit('backpressure', info));
    // What was not written yet moves to memory, in order.
    for (let n = 0; n < this.pendingTexts.length; n++) {
      if (this.pendingSeqs[n]! <= this.writtenSeq) continue;
      moveToMemory(tail, this.pendingTexts[n]!);
    }
    if (this.ackedSeq > this.writtenSeq) tail.acknowledge(this.ackedSeq);
    this.clearPending();
    this.fallback = tail;
    this.fallbackSince = this.clock.now();
    this.closeActive();
    try {
      // A restart must know that records were in memory: then only the ceiling bounds what was handed out.
      this.writeMeta({ ceilingSeq: Math.max(this.ceilingSeq, this.lastSeq + this.ceilingStep) });
    } catch {
      this.retryCeilingAt = this.lastSeq + 1000;
    }
    this.emit('storage', { durable: false, error, heldInMemory: tail.records });
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    this.append(
      encodeRecord(
        {
          kind: 'event',
          name: 'outbox.disk-unavailable',
          data: { code, message: error.message, durableSeq: this.durableSeq },
        },
        this.clock.now(),
      ),
      'event',
    );
    this.scheduleDiskRetry();
  }

  /**
   * While records are held in memory their sequence numbers must stay under the meta file's ceiling (a
   * crash now must not reuse them). Overwriting the meta file in place needs no new blocks, so this
   * usually works even on a full disk; when it does not, it is tried again every thousand records.
   */
  private keepCeilingAhead(): void {
    if (this.lastSeq < this.retryCeilingAt || this.lastSeq + this.ceilingStep / 2 < this.ceilingSeq) return;
    try {
      this.writeMeta({ ceilingSeq: this.lastSeq + this.ceilingStep });
    } catch {
      this.retryCeilingAt = this.lastSeq + 1000;
    }
  }

  private scheduleDiskRetry(): void {
    if (this.closed) return;
    const delay = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** Math.min(this.retryAttempt, 20));
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.retryDisk(true);
    }, delay);
  }

  /** Tries to write the records held in memory to disk; on success the outbox is durable again. */
  private retryDisk(again: boolean): void {
    const tail = this.fallback;
    if (!tail) return;
    const texts: string[] = [];
    const seqs: number[] = [];
    const after = Math.max(this.writtenSeq, this.ackedSeq);
    for (let batch = tail.nextBatch(after); batch; batch = tail.nextBatch(batch.to)) {
      let seq = batch.from;
      for (const item of JSON.parse(`[${batch.text}]`) as Item[]) {
        const span = itemSpan(item);
        if (seq + span - 1 > after) {
          texts.push(JSON.stringify(item));
          seqs.push(seq);
        }
        seq += span;
      }
    }
    try {
      // The acknowledged sequence number first: records acknowledged while in memory are not written.
      this.writeMeta({ ceilingSeq: Math.max(this.ceilingSeq, this.lastSeq + this.ceilingStep) });
      // Nothing reserved: the next record is synced at once, and reserves its window.
      this.writeRecords(texts, seqs, this.sync === 'batch' ? this.lastSeq : undefined);
      this.writtenSeq = this.lastSeq;
      this.reserveSeq = this.lastSeq;
    } catch {
      this.closeActive();
      this.retryAttempt++;
      if (again) this.scheduleDiskRetry();
      return;
    }
    this.fallback = undefined;
    this.droppedOnDisk += tail.dropped;
    this.coalescedOnDisk += tail.coalesced;
    tail.removeAllListeners();
    this.durableSeq = this.writtenSeq;
    this.retryAttempt = 0;
    try {
      this.writeMeta({ inMemory: false });
    } catch {
      // The meta file still says records were in memory: a restart then trusts only its ceiling.
    }
    this.emit('synced', this.durableSeq);
    this.emit('storage', { durable: true, heldInMemory: 0 });
    if (this.closed) return;
    this.append(
      encodeRecord(
        {
          kind: 'event',
          name: 'outbox.disk-restored',
          data: { recordsWritten: texts.length, unavailableMs: this.clock.now() - this.fallbackSince },
        },
        this.clock.now(),
      ),
      'event',
    );
  }
}

/** Where numbering continues after recovery, and the range before it that is not on disk (if any). */
function lostRange(
  meta: OutboxMeta | undefined,
  scan: ReturnType<typeof scanSegments>,
  lastIntact: number,
  ceilingStep: number,
): GapInfo | undefined {
  let lastUsed: number;
  let reason: GapReason;
  if (meta?.clean && !meta.inMemory) {
    // A clean close wrote down the exact last sequence number: anything short of it is damage.
    lastUsed = meta.ceilingSeq;
    reason = 'corrupt';
  } else if (meta && (scan.damagedTail || meta.inMemory || !scan.foundSegments)) {
    // The tail is torn or gone, or records were in memory: only the ceiling bounds what was handed out.
    lastUsed = meta.ceilingSeq;
    reason = meta.inMemory && !scan.damagedTail && scan.foundSegments ? 'unsynced' : 'corrupt';
  } else if (meta) {
    // A crash with an intact tail: the last reserve record bounds the window that was not yet synced.
    lastUsed = scan.lastReserve;
    reason = 'unsynced';
  } else if (scan.foundSegments) {
    // Segments without a readable meta file: nothing bounds what was handed out; skip well clear of it.
    lastUsed = Math.max(lastIntact, scan.lastReserve) + ceilingStep;
    reason = 'corrupt';
  } else return undefined;
  if (lastUsed <= lastIntact) return undefined;
  return { fromSeq: lastIntact + 1, toSeq: lastUsed, count: lastUsed - lastIntact, reason };
}

function moveToMemory(tail: MemoryOutbox, text: string): void {
  const recordClass = itemClass(text);
  if (recordClass === 'gap') {
    const [, fromSeq, toSeq, count, reason] = JSON.parse(text) as GapItem;
    tail.appendGap(fromSeq, toSeq, count, reason);
  } else if (recordClass === 'state') tail.append(text, 'state', (JSON.parse(text) as [string, string])[1]);
  else tail.append(text, recordClass);
}

function tryUnlink(files: OutboxFileSystem, path: string): void {
  try {
    files.unlinkSync(path);
  } catch {
    // Left behind: recovery skips what it holds.
  }
}

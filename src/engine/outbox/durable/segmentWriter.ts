import type { GapItem } from '../../../protocol/records.ts';
import { firstAbove } from '../firstAbove.ts';
import { EntryBuffer, WRITE_CHUNK_BYTES } from './entryBuffer.ts';
import { type OutboxFileSystem, syncDirectory, tryUnlink } from './fileSystem.ts';
import { OutboxSegment } from './segment.ts';
import { EntryKind, itemEntryKind } from './segmentEntry.ts';

export interface SegmentWriterOptions {
  files: OutboxFileSystem;
  /** The outbox directory. */
  dir: string;
  epoch: string;
  /** Bytes per segment file. */
  segmentBytes: number;
  /** The segments recovery found, in order, and the next free segment number. */
  segments: OutboxSegment[];
  nextSegmentNumber: number;
  /** The last sequence number whose entry is on disk. */
  writtenSeq: number;
  /** A segment is about to go (its file removed or closed): a reader on it lets go first. */
  releasing(segment: OutboxSegment): void;
}

/**
 * The segment files of a durable outbox, and the writing of them: entries are appended to the last
 * segment (a new one is started, with its header, once it is full), written in chunks and synced; the
 * index of every segment (its range, counts, offsets) and the totals over all of them are kept as they
 * go. Acknowledged segments are removed.
 */
export class SegmentWriter {
  /** The last sequence number whose entry is written (`write` says how far it got when it throws). */
  writtenSeq: number;
  /** Item entries, bytes and samples on disk, over every segment. */
  records = 0;
  bytes = 0;
  samples = 0;
  private readonly options: SegmentWriterOptions;
  private readonly files: OutboxFileSystem;
  private readonly list: OutboxSegment[];
  /** The segment being appended to (the last one), while its descriptor is open. */
  private current: OutboxSegment | undefined;
  private nextSegmentNumber: number;
  /** Where entries are encoded (the compactor encodes through it too). */
  readonly buffer = new EntryBuffer();

  constructor(options: SegmentWriterOptions) {
    this.options = options;
    this.files = options.files;
    this.list = options.segments;
    this.nextSegmentNumber = options.nextSegmentNumber;
    this.writtenSeq = options.writtenSeq;
    for (const segment of this.list) this.count(segment, 1);
  }

  /** The segments holding records not yet acknowledged, oldest first. */
  get segments(): readonly OutboxSegment[] {
    return this.list;
  }

  /** The segment being appended to, while its file is open. */
  get active(): OutboxSegment | undefined {
    return this.current;
  }

  /**
   * Writes records (texts with their sequence numbers, in order) to the segments, starting new segments as
   * they fill, followed by a reserve entry when `reserveSeq` is given; syncs each segment written to.
   * Throws what the file system throws, `writtenSeq` telling how far it got.
   */
  write(texts: readonly string[], seqs: readonly number[], reserveSeq: number | undefined): void {
    const buffer = this.buffer;
    buffer.clear();
    const segmentBytes = this.options.segmentBytes;
    let i = 0;
    do {
      const segment = this.openSegment();
      let full = false;
      for (; i < texts.length; i++) {
        const text = texts[i]!;
        const kind = itemEntryKind(text);
        const seq = seqs[i]!;
        const end = buffer.encode(kind, seq, text);
        // A segment takes at least one entry, and otherwise no more than its size.
        if (segment.records + buffer.count > 0 && segment.size + end > segmentBytes) {
          full = true;
          break;
        }
        buffer.keep(kind, seq, kind === EntryKind.gap ? (JSON.parse(text) as GapItem)[2] : seq, end);
        if (buffer.length >= WRITE_CHUNK_BYTES) this.commit(segment);
      }
      if (!full && reserveSeq !== undefined) buffer.add(EntryKind.reserve, reserveSeq, reserveSeq, '');
      if (buffer.length > 0) this.commit(segment);
      this.files.fdatasyncSync(segment.fd!);
      if (full) this.closeActive();
    } while (i < texts.length);
  }

  /** The segment to append to: the open one while it has room, else a new one (synced, with its header). */
  openSegment(): OutboxSegment {
    const current = this.current;
    if (current && current.size < this.options.segmentBytes) return current;
    if (current) this.closeActive();
    const { dir } = this.options;
    const segment = new OutboxSegment(dir, this.nextSegmentNumber++);
    // Empty, it covers nothing after what is written (keeps `endSeq` ordered across segments).
    segment.endSeq = this.writtenSeq;
    const fd = this.files.openSync(segment.path, 'w+');
    try {
      this.buffer.clear();
      this.buffer.addHeader(this.options.epoch, segment.number, this.writtenSeq + 1);
      this.buffer.writeTo(this.files, fd, 0, (kind, seq, endSeq, offset, size) =>
        segment.noteEntry(kind, seq, endSeq, offset, size),
      );
      this.files.fdatasyncSync(fd);
      syncDirectory(this.files, dir);
    } catch (error) {
      this.files.closeSync(fd);
      tryUnlink(this.files, segment.path);
      throw error;
    }
    segment.fd = fd;
    this.bytes += segment.size;
    this.list.push(segment);
    this.current = segment;
    return segment;
  }

  closeActive(): void {
    const active = this.current;
    this.current = undefined;
    if (active?.fd === undefined) return;
    try {
      // Bytes of a write that failed half-way are cut off, so the file ends with its last intact entry.
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

  /** The first segment holding records after `afterSeq` (undefined: none). */
  segmentAfter(afterSeq: number): OutboxSegment | undefined {
    const list = this.list;
    return list[firstAbove(0, list.length, (i) => list[i]!.endSeq, afterSeq)];
  }

  /** How many segments, from the oldest, hold only records up to `seq` (the one being written excepted). */
  acknowledgedSegments(seq: number): number {
    let done = 0;
    while (done < this.list.length) {
      const segment = this.list[done]!;
      if (segment === this.current || segment.endSeq > seq) break;
      done++;
    }
    return done;
  }

  /** Removes the oldest `n` segments and their files. */
  removeOldest(n: number): void {
    for (const segment of this.list.splice(0, n)) {
      this.options.releasing(segment);
      if (this.current === segment) this.closeActive();
      this.count(segment, -1);
      tryUnlink(this.files, segment.path);
    }
  }

  /**
   * A segment's file was replaced by a rewritten one (compaction): `rebuild` re-indexes it from the new
   * file; the totals follow, and the segment being written goes on being written.
   */
  replaced(segment: OutboxSegment, wasActive: boolean, rebuild: () => void): void {
    this.count(segment, -1);
    rebuild();
    this.count(segment, 1);
    if (wasActive) {
      segment.fd = this.files.openSync(segment.path, 'r+');
      this.current = segment;
    }
  }

  private commit(segment: OutboxSegment): void {
    const written = this.buffer.length;
    this.buffer.writeTo(this.files, segment.fd!, segment.size, (kind, seq, endSeq, offset, size) => {
      segment.noteEntry(kind, seq, endSeq, offset, size);
      if (kind === EntryKind.reserve) return;
      this.records++;
      if (kind === EntryKind.sample) this.samples++;
      this.writtenSeq = endSeq;
    });
    this.bytes += written;
  }

  private count(segment: OutboxSegment, sign: 1 | -1): void {
    this.records += sign * segment.records;
    this.bytes += sign * segment.size;
    this.samples += sign * segment.samples;
  }
}

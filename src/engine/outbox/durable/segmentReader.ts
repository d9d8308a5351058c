import { encodeGap, type GapItem } from '../../../protocol/records.ts';
import type { GapInfo, OutboxBatch } from '../outbox.ts';
import type { OutboxFileSystem } from './fileSystem.ts';
import type { OutboxSegment } from './segment.ts';
import { EntryKind, isItemKind } from './segmentEntry.ts';
import { SegmentScanner } from './segmentScanner.ts';

export interface SegmentReaderOptions {
  files: OutboxFileSystem;
  /** Records and bytes per batch (one frame). */
  limits: { batchRecords: number; batchBytes: number };
  /** The first segment holding records after a sequence number. */
  segmentAfter(afterSeq: number): OutboxSegment | undefined;
  /** A range found unreadable while reading: it goes out as a gap item, and is reported. */
  gap(gap: GapInfo): void;
  /** Reading failed: nothing was read (the next batch starts afresh). */
  failed(error: Error): void;
}

/** An open segment file and where reading it has got to. */
interface Reader {
  segment: OutboxSegment;
  fd: number;
  scanner: SegmentScanner;
  nextSeq: number;
}

/**
 * Reads batches from the segment files for a flush, through the scanner's bounded window: memory stays
 * flat however long the backlog. One file stays open between batches while reading goes on from where it
 * stopped. Unreadable ranges between intact entries go out as gap items ("corrupt").
 */
export class SegmentReader {
  private reader: Reader | undefined;

  constructor(private readonly options: SegmentReaderOptions) {}

  /** The next batch after `afterSeq` from the segments (undefined: none there, or reading failed). */
  batchAfter(afterSeq: number): OutboxBatch | undefined {
    const segment = this.options.segmentAfter(afterSeq);
    if (!segment) return undefined;
    try {
      return this.readBatch(segment, afterSeq);
    } catch (error) {
      // Never a batch that skips ahead: nothing now, and the next attempt starts afresh.
      this.close();
      this.options.failed(error as Error);
      return undefined;
    }
  }

  /** Lets go of `segment` if reading it (it is about to be removed or rewritten). */
  release(segment: OutboxSegment): void {
    if (this.reader?.segment === segment) this.close();
  }

  close(): void {
    const reader = this.reader;
    this.reader = undefined;
    if (!reader) return;
    try {
      this.options.files.closeSync(reader.fd);
    } catch {
      // Nothing more to do with it.
    }
  }

  private readBatch(segment: OutboxSegment, afterSeq: number): OutboxBatch | undefined {
    const { limits } = this.options;
    const reader = this.readerFor(segment, afterSeq);
    const scanner = reader.scanner;
    scanner.limit = segment.size;
    const parts: string[] = [];
    let bytes = 0;
    let from = 0;
    let expected = afterSeq + 1;
    while (parts.length < limits.batchRecords && bytes < limits.batchBytes && scanner.next()) {
      const view = scanner.view;
      if (!isItemKind(view.kind)) continue;
      const text = scanner.payloadText();
      const endSeq = view.kind === EntryKind.gap ? (JSON.parse(text) as GapItem)[2] : view.seq;
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
      this.options.gap(gap);
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
  private readerFor(segment: OutboxSegment, afterSeq: number): Reader {
    const current = this.reader;
    if (current && current.segment === segment && current.nextSeq === afterSeq + 1) return current;
    this.close();
    const files = this.options.files;
    const fd = files.openSync(segment.path, 'r');
    const scanner = new SegmentScanner(files, fd, segment.offsetFor(afterSeq + 1), segment.size);
    this.reader = { segment, fd, scanner, nextSeq: afterSeq + 1 };
    return this.reader;
  }
}

import type { GapItem } from '../../../protocol/records.ts';
import type { OutboxFileSystem } from './fileSystem.ts';
import { OutboxSegment, segmentNumber } from './segment.ts';
import { isItemKind, RecordKind } from './segmentEntry.ts';
import { SegmentScanner } from './segmentScanner.ts';

/** What a scan of the segment files found. */
export interface SegmentScan {
  /** Segments still holding unacknowledged records, in order (descriptors closed). */
  segments: OutboxSegment[];
  /** The next free segment number. */
  nextSegmentNumber: number;
  /** The epoch named by the segment headers, if any header was intact. */
  epoch: string | undefined;
  /** The last sequence number covered by an intact item (0: none). */
  lastEnd: number;
  /** The last reserve record in log order (0: none). */
  lastReserve: number;
  /** Unreadable bytes came after the last intact item: a torn or corrupt tail. */
  damagedTail: boolean;
  /** Ranges above the acknowledged sequence number with no intact record, between intact ones. */
  holes: Array<{ fromSeq: number; toSeq: number }>;
  /** Latest sequence number of each state key held, and how many held states are superseded. */
  latestState: Map<string, number>;
  supersededStates: number;
  /** Bytes skipped as unreadable. */
  damagedBytes: number;
  /** Whether any segment file was found at all. */
  foundSegments: boolean;
  /**
   * Tidying to do once the outcome of this recovery is durable (doing it before would erase evidence a
   * second recovery needs, were the engine to crash again first): files holding nothing unacknowledged,
   * and damaged tails to cut off.
   */
  obsolete: string[];
  truncate: Array<{ path: string; size: number }>;
}

/**
 * Reads every segment file in order, keeping what is intact. Records at or below `ackedSeq` are known to
 * be persisted by the aggregator. A record that does not continue the sequence (at or below the previous
 * one: left over from before a truncation) counts as damage. Changes nothing on disk: see `obsolete`.
 */
export function scanSegments(files: OutboxFileSystem, dir: string, ackedSeq: number): SegmentScan {
  const numbers = files
    .readdirSync(dir)
    .map((name) => segmentNumber(name))
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b);
  const scan: SegmentScan = {
    segments: [],
    nextSegmentNumber: (numbers[numbers.length - 1] ?? 0) + 1,
    epoch: undefined,
    lastEnd: 0,
    lastReserve: 0,
    damagedTail: false,
    holes: [],
    latestState: new Map(),
    supersededStates: 0,
    damagedBytes: 0,
    foundSegments: numbers.length > 0,
    obsolete: [],
    truncate: [],
  };
  let previousEnd = ackedSeq;
  for (const number of numbers) {
    const segment = new OutboxSegment(dir, number);
    let fd: number;
    try {
      fd = files.openSync(segment.path, 'r+');
    } catch {
      // Unreadable: its records count as missing (a hole, or part of the tail).
      scan.damagedTail = true;
      continue;
    }
    try {
      const size = files.fstatSync(fd).size;
      const scanner = new SegmentScanner(files, fd, 0, size);
      let damagedBefore = 0;
      while (scanner.next()) {
        const view = scanner.view;
        if (scanner.damagedBytes > damagedBefore) scan.damagedTail = true;
        damagedBefore = scanner.damagedBytes;
        if (view.kind === RecordKind.segmentHeader) {
          scan.epoch ??= headerEpoch(scanner.payloadText());
          segment.noteRecord(view.kind, view.seq, view.seq, view.offset, view.size);
          continue;
        }
        if (view.kind === RecordKind.reserve) {
          scan.lastReserve = view.seq;
          segment.noteRecord(view.kind, view.seq, view.seq, view.offset, view.size);
          continue;
        }
        if (!isItemKind(view.kind)) continue;
        const text = scanner.payloadText();
        const endSeq = view.kind === RecordKind.gap ? gapEnd(text, view.seq) : view.seq;
        if (endSeq === undefined || view.seq <= scan.lastEnd) {
          scan.damagedBytes += view.size;
          scan.damagedTail = true;
          continue;
        }
        if (view.seq > previousEnd + 1) scan.holes.push({ fromSeq: previousEnd + 1, toSeq: view.seq - 1 });
        previousEnd = Math.max(previousEnd, endSeq);
        scan.lastEnd = endSeq;
        scan.damagedTail = false;
        if (view.kind === RecordKind.state && view.seq > ackedSeq) noteState(scan, text, view.seq, ackedSeq);
        segment.noteRecord(view.kind, view.seq, endSeq, view.offset, view.size);
      }
      if (scanner.damagedTailFrom >= 0) scan.damagedTail = true;
      scan.damagedBytes += scanner.damagedBytes;
      if (segment.records === 0 || segment.endSeq <= ackedSeq) {
        scan.obsolete.push(segment.path);
        continue;
      }
      if (size > segment.size) scan.truncate.push({ path: segment.path, size: segment.size });
      scan.segments.push(segment);
    } finally {
      files.closeSync(fd);
    }
  }
  return scan;
}

function headerEpoch(text: string): string | undefined {
  try {
    const header = JSON.parse(text) as { epoch?: unknown };
    return typeof header.epoch === 'string' ? header.epoch : undefined;
  } catch {
    return undefined;
  }
}

/** The last sequence number a gap record covers, or undefined when it does not make sense. */
function gapEnd(text: string, seq: number): number | undefined {
  try {
    const item = JSON.parse(text) as GapItem;
    return item[0] === 'g' && item[1] === seq && Number.isSafeInteger(item[2]) && item[2] >= seq
      ? item[2]
      : undefined;
  } catch {
    return undefined;
  }
}

function noteState(scan: SegmentScan, text: string, seq: number, ackedSeq: number): void {
  try {
    const key = (JSON.parse(text) as [string, string])[1];
    const previous = scan.latestState.get(key);
    if (previous !== undefined && previous > ackedSeq) scan.supersededStates++;
    scan.latestState.set(key, seq);
  } catch {
    // An intact record always parses; nothing to do otherwise.
  }
}

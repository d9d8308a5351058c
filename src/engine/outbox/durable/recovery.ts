import { join } from 'node:path';
import type { GapItem, GapReason } from '../../../protocol/records.ts';
import { newEpoch } from '../memoryOutbox.ts';
import type { GapInfo } from '../outbox.ts';
import { type OutboxFileSystem, tryUnlink } from './fileSystem.ts';
import { type OutboxMeta, OutboxMetaFile } from './metaFile.ts';
import { lockOutbox } from './outboxLock.ts';
import { claimOutbox } from './outboxOwner.ts';
import { OutboxSegment, segmentNumber } from './segment.ts';
import { EntryKind, isItemKind } from './segmentEntry.ts';
import { SegmentScanner } from './segmentScanner.ts';

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
        if (view.kind === EntryKind.segmentHeader) {
          scan.epoch ??= headerEpoch(scanner.payloadText());
          segment.noteEntry(view.kind, view.seq, view.seq, view.offset, view.size);
          continue;
        }
        if (view.kind === EntryKind.reserve) {
          scan.lastReserve = view.seq;
          segment.noteEntry(view.kind, view.seq, view.seq, view.offset, view.size);
          continue;
        }
        if (!isItemKind(view.kind)) continue;
        const text = scanner.payloadText();
        const endSeq = view.kind === EntryKind.gap ? gapEnd(text, view.seq) : view.seq;
        if (endSeq === undefined || view.seq <= scan.lastEnd) {
          scan.damagedBytes += view.size;
          scan.damagedTail = true;
          continue;
        }
        if (view.seq > previousEnd + 1) scan.holes.push({ fromSeq: previousEnd + 1, toSeq: view.seq - 1 });
        previousEnd = Math.max(previousEnd, endSeq);
        scan.lastEnd = endSeq;
        scan.damagedTail = false;
        if (view.kind === EntryKind.state && view.seq > ackedSeq) noteState(scan, text, view.seq, ackedSeq);
        segment.noteEntry(view.kind, view.seq, endSeq, view.offset, view.size);
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

/**
 * What recovery concludes from the meta file and the scan: the last intact sequence number, the ranges
 * lost between intact entries (`damaged`) and after the last one (`lost`), and where numbering continues.
 */
export function recover(
  meta: OutboxMeta | undefined,
  scan: SegmentScan,
  ceilingStep: number,
): {
  lastIntact: number;
  damaged: GapInfo[];
  lost: GapInfo | undefined;
  recovery: OutboxRecovery;
} {
  const lastIntact = Math.max(scan.lastEnd, meta?.ackedSeq ?? 0);
  const lost = lostRange(meta, scan, lastIntact, ceilingStep);
  const damaged = scan.holes.map(
    (hole): GapInfo => ({ ...hole, count: hole.toSeq - hole.fromSeq + 1, reason: 'corrupt' }),
  );
  return {
    lastIntact,
    damaged,
    lost,
    recovery: {
      resumed: meta !== undefined || scan.epoch !== undefined,
      lastSeq: lost ? lost.toSeq : lastIntact,
      records: scan.segments.reduce((sum, segment) => sum + segment.records, 0),
      damaged,
      lost,
      damagedBytes: scan.damagedBytes,
    },
  };
}

/** Where numbering continues after recovery, and the range before it that is not on disk (if any). */
function lostRange(
  meta: OutboxMeta | undefined,
  scan: SegmentScan,
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
    // A crash with an intact tail: the last reserve entry bounds the window that was not yet synced.
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

/** Removes files recovery found obsolete and cuts damaged tails, once the recovery is durable. */
export function tidyAfterRecovery(files: OutboxFileSystem, scan: SegmentScan): void {
  for (const path of scan.obsolete) tryUnlink(files, path);
  for (const { path, size } of scan.truncate) {
    try {
      const fd = files.openSync(path, 'r+');
      try {
        files.ftruncateSync(fd, size);
      } finally {
        files.closeSync(fd);
      }
    } catch {
      // Readers stop at the last intact entry anyway.
    }
  }
}

const META_FILE = 'outbox.meta';

/** An outbox directory taken for this process and read: what its meta file and segments hold. */
export interface OpenedOutbox {
  /** This process's hold on the directory (see outboxLock.ts). */
  lock: { release(): void };
  metaFile: OutboxMetaFile;
  meta: OutboxMeta | undefined;
  scan: SegmentScan;
  epoch: string;
  /** What recovery concluded (see `recover`). */
  recovered: ReturnType<typeof recover>;
}

/**
 * Takes the outbox directory (created when missing) for this process and engine, and reads what is
 * intact in it. Changes nothing on disk but the lock, the owner file and an empty meta file.
 */
export function openOutboxDirectory(
  files: OutboxFileSystem,
  dir: string,
  engineId: string | undefined,
  ceilingStep: number,
  nameEpoch: () => string = newEpoch,
): OpenedOutbox {
  files.mkdirSync(dir, { recursive: true });
  const lock = lockOutbox(dir);
  try {
    claimOutbox(dir, engineId);
  } catch (error) {
    lock.release();
    throw error;
  }
  const opened = OutboxMetaFile.open(files, dir, join(dir, META_FILE));
  const scan = scanSegments(files, dir, opened.meta?.ackedSeq ?? 0);
  return {
    lock,
    metaFile: opened.file,
    meta: opened.meta,
    scan,
    epoch: opened.meta?.epoch ?? scan.epoch ?? nameEpoch(),
    recovered: recover(opened.meta, scan, ceilingStep),
  };
}

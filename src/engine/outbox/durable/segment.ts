import { join } from 'node:path';
import { firstAbove } from '../firstAbove.ts';
import { EntryKind } from './segmentEntry.ts';

/** A sparse index entry is taken at most every this many bytes: about 650 samples apart. */
const INDEX_STRIDE_BYTES = 64 * 1024;

const SEGMENT_NAME = /^segment-(\d{10})\.log$/;

export function segmentFileName(number: number): string {
  return `segment-${String(number).padStart(10, '0')}.log`;
}

/** The segment number of a file name, or undefined when the name is not a segment's. */
export function segmentNumber(fileName: string): number | undefined {
  const match = SEGMENT_NAME.exec(fileName);
  return match ? Number(match[1]) : undefined;
}

/**
 * What the durable outbox knows about one segment file without holding its entries: where it ends, the
 * range of sequence numbers it covers, counts per class (for the overflow policy) and a sparse index
 * from sequence numbers to offsets, so a flush can start reading anywhere without scanning from the top.
 */
export class OutboxSegment {
  readonly number: number;
  readonly path: string;
  /** Bytes of intact entries: where the next entry is written, and where reading stops. */
  size = 0;
  /** The first sequence number an item here covers (0 while there is none). */
  firstSeq = 0;
  /** The last sequence number an item here covers (0 while there is none). */
  endSeq = 0;
  /** Item entries held (gap items included), and how many of them are samples and states. */
  records = 0;
  samples = 0;
  states = 0;
  /** The highest sequence number a reserve entry here promised (0: none). */
  reserveSeq = 0;
  /** Open descriptor, while the segment is being written or read. */
  fd: number | undefined;

  private indexSeqs: number[] = [];
  private indexOffsets: number[] = [];
  private lastIndexed = Number.NEGATIVE_INFINITY;

  constructor(dir: string, number: number) {
    this.number = number;
    this.path = join(dir, segmentFileName(number));
  }

  /** Accounts for an entry written (or found) at `offset` of `size` bytes. */
  noteEntry(kind: EntryKind, seq: number, endSeq: number, offset: number, size: number): void {
    this.size = Math.max(this.size, offset + size);
    if (kind === EntryKind.reserve) {
      this.reserveSeq = seq;
      return;
    }
    if (kind === EntryKind.segmentHeader) return;
    if (this.records === 0) this.firstSeq = seq;
    this.endSeq = endSeq;
    this.records++;
    if (kind === EntryKind.sample) this.samples++;
    else if (kind === EntryKind.state) this.states++;
    if (offset - this.lastIndexed >= INDEX_STRIDE_BYTES) {
      this.indexSeqs.push(seq);
      this.indexOffsets.push(offset);
      this.lastIndexed = offset;
    }
  }

  /** Forgets every entry (before the segment is rebuilt from a rewritten file). */
  reset(): void {
    this.size = 0;
    this.firstSeq = 0;
    this.endSeq = 0;
    this.records = 0;
    this.samples = 0;
    this.states = 0;
    this.reserveSeq = 0;
    this.indexSeqs = [];
    this.indexOffsets = [];
    this.lastIndexed = Number.NEGATIVE_INFINITY;
  }

  /** An offset at which reading finds every item covering `seq` or later: the nearest index entry before it. */
  offsetFor(seq: number): number {
    const seqs = this.indexSeqs;
    const lo = firstAbove(0, seqs.length, (i) => seqs[i]!, seq);
    return lo === 0 ? 0 : this.indexOffsets[lo - 1]!;
  }

  /**
   * Bytes and records held after `seq`, estimated from the share of the segment's sequence numbers above
   * it (exact for records when the segment holds one record per sequence number, as it does until the
   * overflow policy or damage leaves gaps).
   */
  heldAfter(seq: number): { bytes: number; records: number } {
    if (seq < this.firstSeq) return { bytes: this.size, records: this.records };
    if (seq >= this.endSeq) return { bytes: 0, records: 0 };
    const share = (this.endSeq - seq) / (this.endSeq - this.firstSeq + 1);
    return { bytes: Math.round(this.size * share), records: Math.round(this.records * share) };
  }
}

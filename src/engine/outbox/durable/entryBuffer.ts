import { type OutboxFileSystem, writeFully } from './fileSystem.ts';
import { EntryKind, maxEntryBytes, SEGMENT_FORMAT, writeEntry } from './segmentEntry.ts';

/** Bytes encoded before they are written out, within one sync. */
export const WRITE_CHUNK_BYTES = 4 * 1024 * 1024;

/** Where an entry landed once written: its kind, sequence number, last sequence number covered, offset, size. */
export type EntryLanded = (
  kind: EntryKind,
  seq: number,
  endSeq: number,
  offset: number,
  size: number,
) => void;

/**
 * Entries encoded for one file and written in one go: a growable buffer and, for each entry kept, what the
 * segment index must learn once it is on disk. The segment writer and the compactor both encode through
 * it, so an entry and a segment header are encoded in one place.
 */
export class EntryBuffer {
  private buffer = Buffer.allocUnsafe(64 * 1024);
  /** Five numbers an entry kept: kind, seq, end seq, offset in the buffer, size. */
  private readonly notes: number[] = [];
  /** Bytes of the entries kept. */
  length = 0;
  /** Entries kept. */
  count = 0;

  /** Encodes an entry after those kept and returns where it ends; it is kept only by `keep`. */
  encode(kind: EntryKind, seq: number, payload: string): number {
    this.reserve(this.length + maxEntryBytes(payload));
    return writeEntry(this.buffer, this.length, kind, seq, payload);
  }

  /** Keeps the entry just encoded (ending at `end`), covering sequence numbers up to `endSeq`. */
  keep(kind: EntryKind, seq: number, endSeq: number, end: number): void {
    const n = this.count++ * 5;
    const notes = this.notes;
    notes[n] = kind;
    notes[n + 1] = seq;
    notes[n + 2] = endSeq;
    notes[n + 3] = this.length;
    notes[n + 4] = end - this.length;
    this.length = end;
  }

  add(kind: EntryKind, seq: number, endSeq: number, payload: string): void {
    this.keep(kind, seq, endSeq, this.encode(kind, seq, payload));
  }

  /** A segment header, naming the format, the outbox's epoch and the segment; `seq`: where the segment starts. */
  addHeader(epoch: string, segmentNumber: number, seq: number): void {
    const header = JSON.stringify({ format: SEGMENT_FORMAT, epoch, segment: segmentNumber });
    this.add(EntryKind.segmentHeader, seq, 0, header);
  }

  /** Writes the entries kept at `position` of `fd`, tells `landed` where each one is, and empties the buffer. */
  writeTo(files: OutboxFileSystem, fd: number, position: number, landed: EntryLanded): void {
    try {
      writeFully(files, fd, this.buffer, this.length, position);
      const notes = this.notes;
      for (let n = 0; n < this.count * 5; n += 5)
        landed(notes[n] as EntryKind, notes[n + 1]!, notes[n + 2]!, position + notes[n + 3]!, notes[n + 4]!);
    } finally {
      this.clear();
    }
  }

  /** Forgets the entries kept (a write that failed: nothing of them is assumed written). */
  clear(): void {
    this.length = 0;
    this.count = 0;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(bytes, this.buffer.length * 2));
    this.buffer.copy(bigger);
    this.buffer = bigger;
  }
}

import type { OutboxFileSystem } from './fileSystem.ts';
import { checkEntry, ENTRY_HEADER_BYTES, ENTRY_MAGIC, EntryView } from './segmentEntry.ts';

const DEFAULT_WINDOW_BYTES = 1024 * 1024;

/**
 * Reads the intact entries of a segment file in order, through a window of bounded size, so that neither
 * recovery nor a flush ever holds more than about a megabyte of a backlog in memory. Damaged bytes (a
 * failed checksum, a torn entry) are skipped by scanning for the next entry start; the caller learns
 * about them from `damagedTailFrom` and from the sequence numbers that are missing.
 */
export class SegmentScanner {
  readonly view = new EntryView();
  /** Where the next entry is looked for. */
  position: number;
  /** Bytes of the file that may be read (the segment's written size). */
  limit: number;
  /** When the last `next()` found no more entries: where unreadable bytes before `limit` began (else -1). */
  damagedTailFrom = -1;
  /** Damaged bytes skipped so far, tail included. */
  damagedBytes = 0;

  private buffer: Buffer;
  private readonly windowBytes: number;
  private bufferStart = 0;
  private bufferLength = 0;

  constructor(
    private readonly files: OutboxFileSystem,
    private readonly fd: number,
    position: number,
    limit: number,
    windowBytes = DEFAULT_WINDOW_BYTES,
  ) {
    this.position = position;
    this.limit = limit;
    this.windowBytes = windowBytes;
    // Small files get a small window; it grows (up to `windowBytes`) as the file does.
    this.buffer = Buffer.allocUnsafe(Math.min(windowBytes, Math.max(4096, limit - position)));
  }

  /** Advances to the next intact entry; false when none is left before `limit`. */
  next(): boolean {
    let at = this.position;
    let damagedFrom = -1;
    this.damagedTailFrom = -1;
    while (at < this.limit) {
      let size = this.check(at);
      if (size < 0) {
        // The entry claims more bytes than the window holds: read them, unless the file ends first.
        if (at - size > this.limit) size = 0;
        else {
          this.fill(at, -size);
          size = this.check(at);
        }
      }
      if (size > 0) {
        if (damagedFrom >= 0) this.damagedBytes += at - damagedFrom;
        this.view.offset = at;
        this.position = at + size;
        return true;
      }
      if (damagedFrom < 0) damagedFrom = at;
      at = this.findMagic(at + 1);
    }
    if (damagedFrom >= 0) {
      this.damagedTailFrom = damagedFrom;
      this.damagedBytes += this.limit - damagedFrom;
    }
    this.position = this.limit;
    return false;
  }

  /** The current entry's payload as text. */
  payloadText(): string {
    const start = this.view.offset - this.bufferStart + ENTRY_HEADER_BYTES;
    return this.buffer.toString('utf8', start, start + this.view.payloadLength);
  }

  /** Size of an entry at `at`, 0 when none is there, -(bytes needed) when the window is too short. */
  private check(at: number): number {
    if (at < this.bufferStart || at + ENTRY_HEADER_BYTES > this.bufferStart + this.bufferLength)
      this.fill(at, ENTRY_HEADER_BYTES);
    const size = checkEntry(this.buffer, at - this.bufferStart, this.bufferLength, this.view);
    // The window ends at the file's limit: an entry that needs more than that is not there.
    if (size < 0 && at + ENTRY_HEADER_BYTES > this.limit) return 0;
    return size;
  }

  /** The offset of the next entry magic at or after `from`, or `limit` when there is none. */
  private findMagic(from: number): number {
    let at = from;
    while (at + 1 < this.limit) {
      if (at < this.bufferStart || at + 2 > this.bufferStart + this.bufferLength) this.fill(at, 2);
      const window = this.buffer.subarray(0, this.bufferLength);
      const found = window.indexOf(ENTRY_MAGIC, at - this.bufferStart);
      if (found >= 0) return this.bufferStart + found;
      // The magic may straddle the end of the window: look again from its last byte.
      at = Math.max(at + 1, this.bufferStart + this.bufferLength - 1);
    }
    return this.limit;
  }

  /** Reads the file from `at` into the window, at least `atLeast` bytes (fewer only at the limit). */
  private fill(at: number, atLeast: number): void {
    const wanted = Math.max(atLeast, Math.min(this.windowBytes, this.limit - at));
    if (wanted > this.buffer.length)
      this.buffer = Buffer.allocUnsafe(Math.max(wanted, Math.min(this.windowBytes, this.buffer.length * 2)));
    const want = Math.min(this.buffer.length, this.limit - at);
    let read = 0;
    while (read < want) {
      const n = this.files.readSync(this.fd, this.buffer, read, want - read, at + read);
      if (n <= 0) break;
      read += n;
    }
    this.bufferStart = at;
    this.bufferLength = read;
  }
}

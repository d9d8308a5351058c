import { type Item, itemSpan } from '../../../protocol/records.ts';
import type { GapInfo } from '../outbox.ts';
import { applyOverflowPolicy, type HeldItem } from '../overflowPolicy.ts';
import { WRITE_CHUNK_BYTES } from './entryBuffer.ts';
import { type OutboxFileSystem, syncDirectory, tryUnlink } from './fileSystem.ts';
import type { HeldStates } from './heldStates.ts';
import type { OutboxSegment } from './segment.ts';
import { EntryKind, isItemKind, itemEntryKind } from './segmentEntry.ts';
import { SegmentScanner } from './segmentScanner.ts';
import type { SegmentWriter } from './segmentWriter.ts';

export interface CompactorOptions {
  files: OutboxFileSystem;
  /** The outbox directory. */
  dir: string;
  epoch: string;
  writer: SegmentWriter;
  /** Everything up to here was acknowledged: left out of a rewritten segment. */
  ackedSeq(): number;
  /** Writes the meta file (with the acknowledged sequence number) before a segment loses records. */
  recordAcknowledged(): void;
  /** The states held by key (which ones a newer value supersedes). */
  states: HeldStates;
  /** What a rewrite dropped (at most one range per reason): counted and reported by the outbox. */
  dropped(gap: GapInfo): void;
  /** A segment is about to be rewritten: a reader on it lets go first. */
  releasing(segment: OutboxSegment): void;
}

/** Once over a bound, the policy frees down to this share of it. */
const LOW_WATER = 0.9;

/**
 * The overflow policy on disk: rewrites one segment without its superseded states (and, when asked, its
 * samples), leaving a gap item for each run of what it dropped, through a temporary file that is synced
 * and renamed over the old one. Records already acknowledged are left out.
 */
export class Compactor {
  constructor(private readonly options: CompactorOptions) {}

  /**
   * Applies the policy over the segments, oldest first, until the outbox is under LOW_WATER of its bounds
   * (`overBound(share)`): superseded states are coalesced first, then samples dropped; events never.
   * Throws what the disk throws.
   */
  relieve(overBound: (share: number) => boolean): void {
    const { writer, states } = this.options;
    const ackedSeq = this.options.ackedSeq();
    if (states.superseded > 0) {
      for (const segment of [...writer.segments]) {
        if (!overBound(LOW_WATER)) break;
        if (segment.states > 0 && segment.endSeq > ackedSeq) this.compact(segment, false);
      }
      if (overBound(LOW_WATER)) states.superseded = 0;
    }
    if (writer.samples > 0)
      for (const segment of [...writer.segments]) {
        if (!overBound(LOW_WATER)) break;
        if (segment.samples > 0 && segment.endSeq > ackedSeq) this.compact(segment, true);
      }
  }

  /** Rewrites `segment`, telling `dropped` what it left out. Throws what the disk throws. */
  private compact(segment: OutboxSegment, dropSamples: boolean): void {
    const { files, writer } = this.options;
    // Recorded first: a restart must not take the records left out for damage.
    this.options.recordAcknowledged();
    const { held, reserveSeq } = this.read(segment);
    const states = this.options.states;
    const result = applyOverflowPolicy(held, {
      dropSamples,
      isSuperseded: (key, seq) => states.isSuperseded(key, seq),
    });

    const buffer = writer.buffer;
    buffer.clear();
    const temporary = `${segment.path}.tmp`;
    const out = files.openSync(temporary, 'w');
    const landed: Array<[EntryKind, number, number, number, number]> = [];
    const note = (kind: EntryKind, seq: number, endSeq: number, offset: number, size: number) =>
      landed.push([kind, seq, endSeq, offset, size]);
    let written = 0;
    const flush = () => {
      const length = buffer.length;
      buffer.writeTo(files, out, written, note);
      written += length;
    };
    try {
      buffer.addHeader(this.options.epoch, segment.number, result.kept[0]?.seq ?? segment.firstSeq);
      for (const { seq, item } of result.kept) {
        const text = JSON.stringify(item);
        buffer.add(itemEntryKind(text), seq, seq + itemSpan(item) - 1, text);
        if (buffer.length >= WRITE_CHUNK_BYTES) flush();
      }
      if (reserveSeq > 0) buffer.add(EntryKind.reserve, reserveSeq, reserveSeq, '');
      flush();
      files.fdatasyncSync(out);
    } catch (error) {
      buffer.clear();
      files.closeSync(out);
      tryUnlink(files, temporary);
      throw error;
    }
    files.closeSync(out);
    this.options.releasing(segment);
    const wasActive = writer.active === segment;
    if (wasActive) writer.closeActive();
    files.renameSync(temporary, segment.path);
    syncDirectory(files, this.options.dir);

    writer.replaced(segment, wasActive, () => {
      const endSeq = segment.endSeq;
      segment.reset();
      segment.endSeq = endSeq;
      for (const [kind, seq, end, offset, size] of landed) segment.noteEntry(kind, seq, end, offset, size);
    });
    for (const gap of result.dropped) {
      if (gap.reason === 'coalesced') states.coalesced(gap.count);
      this.options.dropped(gap);
    }
  }

  /** The items of a segment not yet acknowledged, and its last reserve. */
  private read(segment: OutboxSegment): { held: HeldItem[]; reserveSeq: number } {
    const files = this.options.files;
    const ackedSeq = this.options.ackedSeq();
    const held: HeldItem[] = [];
    let reserveSeq = 0;
    const fd = files.openSync(segment.path, 'r');
    try {
      const scanner = new SegmentScanner(files, fd, 0, segment.size);
      while (scanner.next()) {
        const view = scanner.view;
        if (view.kind === EntryKind.reserve) reserveSeq = view.seq;
        if (!isItemKind(view.kind)) continue;
        const item = JSON.parse(scanner.payloadText()) as Item;
        if (view.seq + itemSpan(item) - 1 > ackedSeq) held.push({ seq: view.seq, item });
      }
    } finally {
      files.closeSync(fd);
    }
    return { held, reserveSeq };
  }
}

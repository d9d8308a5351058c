import { firstAbove } from '../firstAbove.ts';
import type { OutboxBatch } from '../outbox.ts';
import { ENTRY_OVERHEAD_BYTES } from './segmentEntry.ts';

/**
 * Records accepted and not yet written (under the `batch` sync policy): their texts and sequence numbers,
 * written together at the next sync. A flush may send them before they are written.
 */
export class WriteQueue {
  texts: string[] = [];
  seqs: number[] = [];
  /** Bytes they will take on disk. */
  bytes = 0;

  get length(): number {
    return this.texts.length;
  }

  push(text: string, seq: number): void {
    this.texts.push(text);
    this.seqs.push(seq);
    this.bytes += text.length + ENTRY_OVERHEAD_BYTES;
  }

  /** Takes back the last record pushed (it waits for a number after all); returns its text. */
  dropLast(): string | undefined {
    const text = this.texts.pop();
    this.seqs.pop();
    if (text !== undefined) this.bytes -= text.length + ENTRY_OVERHEAD_BYTES;
    return text;
  }

  clear(): void {
    this.texts = [];
    this.seqs = [];
    this.bytes = 0;
  }

  /** The next batch after `afterSeq` (`lastSeq`: the last sequence number handed out). */
  batchAfter(
    afterSeq: number,
    lastSeq: number,
    limits: { batchRecords: number; batchBytes: number },
  ): OutboxBatch | undefined {
    const seqs = this.seqs;
    // The last waiting record starting at or before afterSeq + 1 (a gap may span it), else the first.
    const lo = firstAbove(0, seqs.length, (i) => seqs[i]!, afterSeq + 1);
    const first = Math.max(0, lo - 1);
    let last = first;
    let bytes = 0;
    while (last < seqs.length && last - first < limits.batchRecords && bytes < limits.batchBytes) {
      bytes += this.texts[last]!.length + 1;
      last++;
    }
    const to = last < seqs.length ? seqs[last]! - 1 : lastSeq;
    if (to <= afterSeq) return undefined;
    return {
      from: seqs[first]!,
      to,
      text: this.texts.slice(first, last).join(','),
      records: last - first,
    };
  }
}

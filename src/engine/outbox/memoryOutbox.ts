import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { encodeGap, type GapReason, type Item, itemSpan, type RecordClass } from '../../protocol/records.ts';
import { firstAbove } from './firstAbove.ts';
import type { Outbox, OutboxBatch, OutboxEvents } from './outbox.ts';
import { MEMORY_OUTBOX_DEFAULTS, type OutboxLimits } from './outboxDefaults.ts';
import { applyOverflowPolicy, type HeldItem } from './overflowPolicy.ts';

/** Once over a bound, the policy frees down to this share of it, so it does not run on every append. */
const LOW_WATER = 0.9;

/** Consecutive records stored as one string: no object per record, so memory stays near the encoded size. */
interface Chunk {
  firstSeq: number;
  lastSeq: number;
  text: string;
  records: number;
  samples: number;
  states: number;
}

export function newEpoch(): string {
  return `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
}

/**
 * The in-memory outbox: records wait here, encoded and batched, until acknowledged. Bounded by records
 * and bytes; when full, superseded states are coalesced first, then the oldest samples are dropped, each
 * dropped run leaving a gap item in its place. Events are never dropped: when only they remain, the outbox
 * reports backpressure and keeps them.
 */
export class MemoryOutbox extends EventEmitter<OutboxEvents> implements Outbox {
  readonly epoch: string;
  lastSeq = 0;
  ackedSeq = 0;
  records = 0;
  bytes = 0;
  dropped = 0;
  coalesced = 0;

  private readonly limits: Required<OutboxLimits>;
  private chunks: Chunk[] = [];
  private head = 0;
  private open: string[] = [];
  private openBytes = 0;
  private openSamples = 0;
  private openStates = 0;
  /** Index of the first chunk that may still hold samples. */
  private sampleScan = 0;
  private readonly latestState = new Map<string, number>();
  private supersededStates = 0;
  private backpressure = false;

  /**
   * `startAfterSeq`: numbering continues after it (everything up to it counts as acknowledged); the
   * durable outbox uses this when it holds records in memory while its disk is unavailable.
   */
  constructor(limits: OutboxLimits = {}, epoch = newEpoch(), startAfterSeq = 0) {
    super();
    this.epoch = epoch;
    this.limits = { ...MEMORY_OUTBOX_DEFAULTS, ...limits };
    this.lastSeq = startAfterSeq;
    this.ackedSeq = startAfterSeq;
  }

  append(encodedItem: string, recordClass: RecordClass, stateKey?: string): number {
    const seq = ++this.lastSeq;
    this.open.push(encodedItem);
    // Each item costs its text and the comma that joins it to the next.
    this.openBytes += encodedItem.length + 1;
    this.records++;
    this.bytes += encodedItem.length + 1;
    if (recordClass === 'sample') this.openSamples++;
    else if (recordClass === 'state' && stateKey !== undefined) {
      this.openStates++;
      const previous = this.latestState.get(stateKey);
      if (previous !== undefined && previous > this.ackedSeq) this.supersededStates++;
      this.latestState.set(stateKey, seq);
    }
    if (this.open.length >= this.limits.batchRecords || this.openBytes >= this.limits.batchBytes) this.seal();
    if (this.records > this.limits.maxRecords || this.bytes > this.limits.maxBytes) this.relieve();
    return seq;
  }

  /** Holds a gap item standing for `fromSeq..toSeq` (it must start at the next sequence number). */
  appendGap(fromSeq: number, toSeq: number, count: number, reason: GapReason): void {
    if (fromSeq !== this.lastSeq + 1 || toSeq < fromSeq)
      throw new RangeError(`gap ${fromSeq}..${toSeq} does not continue the outbox after ${this.lastSeq}`);
    if (this.open.length > 0) this.seal();
    const text = encodeGap(fromSeq, toSeq, count, reason);
    this.chunks.push({ firstSeq: fromSeq, lastSeq: toSeq, text, records: 1, samples: 0, states: 0 });
    this.lastSeq = toSeq;
    this.records++;
    this.bytes += text.length + 1;
  }

  acknowledge(seq: number): void {
    const upTo = Math.min(seq, this.lastSeq);
    if (upTo <= this.ackedSeq) return;
    this.ackedSeq = upTo;
    while (this.head < this.chunks.length && this.chunks[this.head]!.lastSeq <= upTo) {
      const chunk = this.chunks[this.head++]!;
      this.records -= chunk.records;
      this.bytes -= chunk.text.length + 1;
    }
    if (this.open.length > 0 && this.lastSeq <= upTo) this.discardOpen();
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.sampleScan = Math.max(0, this.sampleScan - this.head);
      this.head = 0;
    }
    if (this.latestState.size > 4096) {
      for (const [key, at] of this.latestState) if (at <= upTo) this.latestState.delete(key);
    }
    if (this.backpressure && !this.overBound(1)) {
      this.backpressure = false;
      this.emit('backpressure', { active: false, records: this.records, bytes: this.bytes });
    }
  }

  nextBatch(afterSeq: number): OutboxBatch | undefined {
    const chunk =
      this.chunkAfter(afterSeq) ??
      (this.open.length > 0 && this.lastSeq > afterSeq ? this.seal() : undefined);
    if (!chunk) return undefined;
    return { from: chunk.firstSeq, to: chunk.lastSeq, text: chunk.text, records: chunk.records };
  }

  /** Nothing to release: a memory outbox lives and dies with the process. */
  async close(): Promise<void> {}

  /** The first sealed chunk holding a sequence number above `seq` (chunks are in sequence order). */
  private chunkAfter(seq: number): Chunk | undefined {
    const chunks = this.chunks;
    return chunks[firstAbove(this.head, chunks.length, (i) => chunks[i]!.lastSeq, seq)];
  }

  private seal(): Chunk {
    const records = this.open.length;
    const chunk: Chunk = {
      firstSeq: this.lastSeq - records + 1,
      lastSeq: this.lastSeq,
      text: this.open.join(','),
      records,
      samples: this.openSamples,
      states: this.openStates,
    };
    this.chunks.push(chunk);
    this.open = [];
    this.openBytes = 0;
    this.openSamples = 0;
    this.openStates = 0;
    return chunk;
  }

  private discardOpen(): void {
    this.records -= this.open.length;
    this.bytes -= this.openBytes;
    this.open = [];
    this.openBytes = 0;
    this.openSamples = 0;
    this.openStates = 0;
  }

  private overBound(share: number): boolean {
    return this.records > this.limits.maxRecords * share || this.bytes > this.limits.maxBytes * share;
  }

  /** The overflow policy: coalesce superseded states, then drop the oldest samples, never events. */
  private relieve(): void {
    if (this.open.length > 0) this.seal();
    if (this.supersededStates > 0) {
      for (let i = this.head; i < this.chunks.length && this.overBound(LOW_WATER); i++) {
        const chunk = this.chunks[i]!;
        if (chunk.states > 0) this.rewrite(chunk, false);
      }
      if (!this.overBound(LOW_WATER)) return;
      this.supersededStates = 0;
    }
    this.sampleScan = Math.max(this.sampleScan, this.head);
    while (this.sampleScan < this.chunks.length && this.overBound(LOW_WATER)) {
      const chunk = this.chunks[this.sampleScan]!;
      if (chunk.samples > 0) this.rewrite(chunk, true);
      if (this.overBound(LOW_WATER)) this.sampleScan++;
    }
    if (this.overBound(1) && !this.backpressure) {
      this.backpressure = true;
      this.emit('backpressure', { active: true, records: this.records, bytes: this.bytes });
    }
  }

  /** Rewrites a chunk without its superseded states (and its samples, when asked), leaving gap items. */
  private rewrite(chunk: Chunk, dropSamples: boolean): void {
    const held: HeldItem[] = [];
    let seq = chunk.firstSeq;
    for (const item of JSON.parse(`[${chunk.text}]`) as Item[]) {
      held.push({ seq, item });
      seq += itemSpan(item);
    }
    const result = applyOverflowPolicy(held, {
      dropSamples,
      isSuperseded: (key, at) => (this.latestState.get(key) ?? at) > at,
    });
    const text = result.kept.map((kept) => JSON.stringify(kept.item)).join(',');
    this.records += result.kept.length - chunk.records;
    this.bytes += text.length - chunk.text.length;
    chunk.text = text;
    chunk.records = result.kept.length;
    chunk.samples = result.samples;
    chunk.states = result.states;
    for (const info of result.dropped) {
      if (info.reason === 'overflow') this.dropped += info.count;
      else {
        this.coalesced += info.count;
        this.supersededStates = Math.max(0, this.supersededStates - info.count);
      }
      this.emit('gap', info);
    }
  }
}

import type { EventEmitter } from 'eventemitter3';
import { type GapItem, type Item, itemClass, itemSpan, type RecordClass } from '../../../protocol/records.ts';
import type { Clock, TimerHandle } from '../../../time/clock.ts';
import { MemoryOutbox } from '../memoryOutbox.ts';
import type { OutboxBatch, OutboxEvents } from '../outbox.ts';
import { MEMORY_OUTBOX_DEFAULTS, type OutboxLimits } from '../outboxDefaults.ts';
import type { OutboxMetaKeeper } from './metaFile.ts';
import type { SegmentWriter } from './segmentWriter.ts';
import type { WriteQueue } from './writeQueue.ts';

/** A record accepted while no sequence number could be handed out safely. */
export interface WaitingRecord {
  text: string;
  recordClass: RecordClass;
  stateKey: string | undefined;
}

export interface DiskFallbackOptions {
  clock: Clock;
  epoch: string;
  /** Bounds of the records held in memory. */
  limits: OutboxLimits;
  /** Waits between attempts to use the disk again (doubling, up to `maxMs`). */
  retry: { initialMs: number; maxMs: number };
  /** Where the memory outbox's gaps and backpressure are told (the durable outbox). */
  events: EventEmitter<OutboxEvents>;
}

/**
 * Where a durable outbox holds records while its disk fails (ENOSPC, EIO): a memory outbox continuing
 * the numbering after the last record written, bounded and under the same overflow policy, and the
 * schedule of attempts to use the disk again. The durable outbox decides when to enter and leave it.
 */
export class DiskFallback {
  /** The records held in memory. */
  readonly tail: MemoryOutbox;
  /** When the disk failed. */
  readonly since: number;
  /**
   * Records waiting for a sequence number, in order (`append` answered 0): the meta file could not note
   * that numbers above what a restart would skip were handed out from memory. They are numbered once it
   * can (or the disk works again); a crash meanwhile loses them, as it loses what is held in `tail`.
   */
  readonly waiting: WaitingRecord[] = [];
  /** Samples refused because `waiting` was full (told in `outbox.disk-restored` as `recordsRefused`). */
  refused = 0;
  private readonly options: DiskFallbackOptions;
  private timer: TimerHandle | undefined;
  private attempt = 0;

  /**
   * Holds in memory what was accepted and not written yet (`queue`, emptied), numbering after
   * `writtenSeq`; what is acknowledged already is let go.
   */
  constructor(options: DiskFallbackOptions, writtenSeq: number, ackedSeq: number, queue: WriteQueue) {
    this.options = options;
    const tail = new MemoryOutbox(options.limits, options.epoch, writtenSeq);
    tail.on('gap', (gap) => options.events.emit('gap', gap));
    tail.on('backpressure', (info) => options.events.emit('backpressure', info));
    // What was not written yet moves to memory, in order.
    for (let n = 0; n < queue.length; n++) {
      if (queue.seqs[n]! <= writtenSeq) continue;
      moveToMemory(tail, queue.texts[n]!);
    }
    if (ackedSeq > writtenSeq) tail.acknowledge(ackedSeq);
    queue.clear();
    this.tail = tail;
    this.since = options.clock.now();
  }

  /**
   * Writes the records held in memory to disk (after `writer.writtenSeq` and `ackedSeq`: records
   * acknowledged while in memory are not written), the meta file first; nothing reserved (`reserve`:
   * under `batch`, a reserve entry at `lastSeq`), so the next record is synced at once. Returns how many
   * were written; throws what the disk throws.
   */
  writeBack(
    writer: SegmentWriter,
    meta: OutboxMetaKeeper,
    seqs: { lastSeq: number; ackedSeq: number },
    reserve: boolean,
  ): number {
    const held = this.held(Math.max(writer.writtenSeq, seqs.ackedSeq));
    meta.write({ ceilingSeq: Math.max(meta.ceilingSeq, seqs.lastSeq + meta.ceilingStep) });
    writer.write(held.texts, held.seqs, reserve ? seqs.lastSeq : undefined);
    writer.writtenSeq = seqs.lastSeq;
    return held.texts.length;
  }

  /** The records held that the aggregator has not acknowledged, after `afterSeq`, as texts with their sequence numbers. */
  private held(afterSeq: number): { texts: string[]; seqs: number[] } {
    const texts: string[] = [];
    const seqs: number[] = [];
    for (let batch = this.tail.nextBatch(afterSeq); batch; batch = this.tail.nextBatch(batch.to)) {
      let seq = batch.from;
      for (const item of JSON.parse(`[${batch.text}]`) as Item[]) {
        const span = itemSpan(item);
        if (seq + span - 1 > afterSeq) {
          texts.push(JSON.stringify(item));
          seqs.push(seq);
        }
        seq += span;
      }
    }
    return { texts, seqs };
  }

  /**
   * Holds a record until it can be numbered. Over the memory bound only samples are refused (counted),
   * as the overflow policy would drop them; events and states always wait.
   */
  hold(record: WaitingRecord): void {
    const full = this.waiting.length >= (this.options.limits.maxRecords ?? MEMORY_OUTBOX_DEFAULTS.maxRecords);
    if (full && record.recordClass === 'sample') this.refused++;
    else this.waiting.push(record);
  }

  /** The next batch from memory. */
  nextBatch(afterSeq: number): OutboxBatch | undefined {
    return this.tail.nextBatch(afterSeq);
  }

  /** Tries the disk again after the next wait of the schedule (`tryDisk` decides what to do). */
  scheduleRetry(tryDisk: () => void): void {
    const { initialMs, maxMs } = this.options.retry;
    const delay = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 20));
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      tryDisk();
    }, delay);
  }

  cancelRetry(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** An attempt to use the disk failed: the next wait is longer. */
  failed(): void {
    this.attempt++;
  }

  /** Nothing more is held in memory: no retry, no more events. */
  end(): void {
    this.cancelRetry();
    this.tail.removeAllListeners();
  }
}

function moveToMemory(tail: MemoryOutbox, text: string): void {
  const recordClass = itemClass(text);
  if (recordClass === 'gap') {
    const [, fromSeq, toSeq, count, reason] = JSON.parse(text) as GapItem;
    tail.appendGap(fromSeq, toSeq, count, reason);
  } else if (recordClass === 'state') tail.append(text, 'state', (JSON.parse(text) as [string, string])[1]);
  else tail.append(text, recordClass);
}

import { describe, expect, it } from 'vitest';
import { MemoryOutbox } from '../../src/engine/outbox/memoryOutbox.ts';
import type { GapInfo } from '../../src/engine/outbox/outbox.ts';
import { type EngineRecord, encodeRecord, type Item } from '../../src/protocol/records.ts';

const sample = (i: number): EngineRecord => ({ kind: 'sample', tag: `tag${i % 3}`, value: i, t: 1000 + i });
const event = (i: number): EngineRecord => ({ kind: 'event', name: 'log', data: { i }, t: 1000 + i });
const state = (key: string, value: number): EngineRecord => ({ kind: 'state', key, value, t: 1000 + value });

function put(outbox: MemoryOutbox, record: EngineRecord): number {
  return outbox.append(
    encodeRecord(record, 0),
    record.kind,
    record.kind === 'state' ? record.key : undefined,
  );
}

/** Reads every held item back with its sequence number, as the aggregator would. */
function drain(outbox: MemoryOutbox): Array<{ seq: number; item: Item }> {
  const out: Array<{ seq: number; item: Item }> = [];
  let after = outbox.ackedSeq;
  for (;;) {
    const batch = outbox.nextBatch(after);
    if (!batch) return out;
    let seq = batch.from;
    for (const item of JSON.parse(`[${batch.text}]`) as Item[]) {
      out.push({ seq, item });
      seq = item[0] === 'g' ? item[2] + 1 : seq + 1;
    }
    expect(seq - 1).toBe(batch.to);
    after = batch.to;
  }
}

describe('MemoryOutbox', () => {
  it('assigns consecutive sequence numbers and returns batches in order', () => {
    const outbox = new MemoryOutbox({ batchRecords: 4 });
    for (let i = 1; i <= 10; i++) expect(put(outbox, sample(i))).toBe(i);
    expect(outbox.records).toBe(10);
    const held = drain(outbox);
    expect(held.map((h) => h.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(held.map((h) => h.item[3])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('forgets acknowledged batches and keeps the rest', () => {
    const outbox = new MemoryOutbox({ batchRecords: 4 });
    for (let i = 1; i <= 10; i++) put(outbox, sample(i));
    const first = outbox.nextBatch(0)!;
    expect([first.from, first.to]).toEqual([1, 4]);
    outbox.acknowledge(4);
    expect(outbox.ackedSeq).toBe(4);
    expect(outbox.records).toBe(6);
    expect(drain(outbox).map((h) => h.seq)).toEqual([5, 6, 7, 8, 9, 10]);
    outbox.acknowledge(10);
    expect(outbox.records).toBe(0);
    expect(outbox.bytes).toBe(0);
    expect(outbox.nextBatch(10)).toBeUndefined();
  });

  it('drops the oldest samples when over the record bound, leaving exact gap items', () => {
    const outbox = new MemoryOutbox({ maxRecords: 20, batchRecords: 5 });
    const gaps: GapInfo[] = [];
    outbox.on('gap', (gap) => gaps.push(gap));
    for (let i = 1; i <= 21; i++) put(outbox, sample(i));
    // Over 20: the policy frees down to 90% (18) by dropping whole oldest batches of samples.
    expect(gaps).toEqual([{ fromSeq: 1, toSeq: 5, count: 5, reason: 'overflow' }]);
    expect(outbox.dropped).toBe(5);
    const held = drain(outbox);
    expect(held[0]).toEqual({ seq: 1, item: ['g', 1, 5, 5, 'overflow'] });
    expect(held.slice(1).map((h) => h.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 6));
  });

  it('never drops events: keeps them and reports backpressure, then its end', () => {
    const outbox = new MemoryOutbox({ maxRecords: 10, batchRecords: 4 });
    const pressure: boolean[] = [];
    outbox.on('backpressure', (info) => pressure.push(info.active));
    for (let i = 1; i <= 15; i++) put(outbox, event(i));
    expect(outbox.records).toBe(15);
    expect(outbox.dropped).toBe(0);
    expect(pressure).toEqual([true]);
    expect(drain(outbox).map((h) => h.item[0])).toEqual(Array(15).fill('e'));
    outbox.acknowledge(8);
    expect(pressure).toEqual([true, false]);
  });

  it('drops samples between events, keeping the events at their sequence numbers', () => {
    const outbox = new MemoryOutbox({ maxRecords: 8, batchRecords: 6 });
    for (let i = 1; i <= 9; i++) put(outbox, i % 3 === 0 ? event(i) : sample(i));
    const held = drain(outbox);
    expect(held).toEqual([
      { seq: 1, item: ['g', 1, 2, 2, 'overflow'] },
      { seq: 3, item: ['e', 'log', 1003, { i: 3 }] },
      { seq: 4, item: ['g', 4, 5, 2, 'overflow'] },
      { seq: 6, item: ['e', 'log', 1006, { i: 6 }] },
      { seq: 7, item: ['s', 'tag1', 1007, 7] },
      { seq: 8, item: ['s', 'tag2', 1008, 8] },
      { seq: 9, item: ['e', 'log', 1009, { i: 9 }] },
    ]);
    expect(outbox.dropped).toBe(4);
  });

  it('coalesces superseded states before dropping samples (latest value wins)', () => {
    const outbox = new MemoryOutbox({ maxRecords: 10, batchRecords: 5 });
    const gaps: GapInfo[] = [];
    outbox.on('gap', (gap) => gaps.push(gap));
    for (let v = 1; v <= 6; v++) put(outbox, state('phase', v));
    for (let i = 7; i <= 11; i++) put(outbox, sample(i));
    expect(outbox.coalesced).toBe(5);
    expect(outbox.dropped).toBe(0);
    expect(gaps).toEqual([{ fromSeq: 1, toSeq: 5, count: 5, reason: 'coalesced' }]);
    const held = drain(outbox);
    expect(held[0]).toEqual({ seq: 1, item: ['g', 1, 5, 5, 'coalesced'] });
    expect(held[1]).toEqual({ seq: 6, item: ['st', 'phase', 1006, 6] });
    expect(held.slice(2).map((h) => h.seq)).toEqual([7, 8, 9, 10, 11]);
  });

  it('bounds by bytes as well as by count', () => {
    const outbox = new MemoryOutbox({ maxBytes: 1000, batchRecords: 10 });
    for (let i = 1; i <= 100; i++) put(outbox, sample(i));
    expect(outbox.bytes).toBeLessThanOrEqual(1000);
    expect(outbox.dropped).toBeGreaterThan(0);
    const held = drain(outbox);
    const covered = held.reduce((n, h) => n + (h.item[0] === 'g' ? h.item[2] - h.item[1] + 1 : 1), 0);
    expect(covered).toBe(100);
    const droppedInGaps = held.reduce((n, h) => n + (h.item[0] === 'g' ? h.item[3] : 0), 0);
    expect(droppedInGaps).toBe(outbox.dropped);
  });
});

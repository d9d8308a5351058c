import fs, { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { DurableOutbox, type DurableOutboxOptions } from '../../src/engine/outbox/durable/durableOutbox.ts';
import type { OutboxFileSystem } from '../../src/engine/outbox/durable/fileSystem.ts';
import type { Outbox } from '../../src/engine/outbox/outbox.ts';
import { type EngineRecord, encodeRecord, type Item, itemSpan } from '../../src/protocol/records.ts';

/** A fresh outbox directory path (not yet created) in its own temporary folder. */
export function tempOutboxPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'engine-link-outbox-')), 'engine.outbox');
}

export function put(outbox: Outbox, record: EngineRecord): number {
  return outbox.append(
    encodeRecord(record, 0),
    record.kind,
    record.kind === 'state' ? record.key : undefined,
  );
}

export const sample = (i: number): EngineRecord => ({
  kind: 'sample',
  tag: `tag${i % 3}`,
  value: i,
  unit: 'degC',
  t: 1000 + i,
});
export const event = (i: number): EngineRecord => ({ kind: 'event', name: 'log', data: { i }, t: 1000 + i });
export const state = (key: string, value: number): EngineRecord => ({
  kind: 'state',
  key,
  value,
  t: 1000 + value,
});

/** Reads every held item after `afterSeq` with its sequence number, as the aggregator would, checking continuity. */
export function readAll(outbox: Outbox, afterSeq = outbox.ackedSeq): Array<{ seq: number; item: Item }> {
  const out: Array<{ seq: number; item: Item }> = [];
  let after = afterSeq;
  for (;;) {
    const batch = outbox.nextBatch(after);
    if (!batch) return out;
    let seq = batch.from;
    expect(seq).toBeLessThanOrEqual(after + 1);
    for (const item of JSON.parse(`[${batch.text}]`) as Item[]) {
      if (seq + itemSpan(item) - 1 > after) out.push({ seq, item });
      seq += itemSpan(item);
    }
    expect(seq - 1).toBe(batch.to);
    after = batch.to;
  }
}

/** The sequence numbers an item list covers, in order, each exactly once (throws on a hole or overlap). */
export function expectContiguous(items: Array<{ seq: number; item: Item }>, from: number, to: number): void {
  let next = from;
  for (const { seq, item } of items) {
    expect(seq).toBe(next);
    next = seq + itemSpan(item);
  }
  expect(next - 1).toBe(to);
}

/**
 * `node:fs` with switchable failures and counters, to play a full or failing disk. `spareMeta`: writes
 * to the meta file still work (a full disk: overwriting its slots in place needs no new blocks).
 */
export function controllableFileSystem(): {
  fs: OutboxFileSystem;
  fail(code: string | undefined, options?: { spareMeta?: boolean }): void;
  readonly syncs: number;
} {
  let failing: string | undefined;
  let spareMeta = false;
  let syncs = 0;
  const metaFds = new Set<number>();
  const error = () => Object.assign(new Error(`${failing}: simulated disk failure`), { code: failing });
  const fails = (fd: number) => failing !== undefined && !(spareMeta && metaFds.has(fd));
  const files: OutboxFileSystem = {
    ...fs,
    writeSync: ((...args: Parameters<typeof fs.writeSync>) => {
      if (fails(args[0])) throw error();
      return (fs.writeSync as (...a: unknown[]) => number)(...args);
    }) as typeof fs.writeSync,
    fdatasyncSync: (fd) => {
      if (fails(fd)) throw error();
      syncs++;
      fs.fdatasyncSync(fd);
    },
    openSync: ((path, flags, mode) => {
      if (failing && typeof flags === 'string' && flags.startsWith('w')) throw error();
      const fd = fs.openSync(path, flags, mode);
      if (String(path).endsWith('outbox.meta')) metaFds.add(fd);
      return fd;
    }) as typeof fs.openSync,
    closeSync: (fd) => {
      metaFds.delete(fd);
      fs.closeSync(fd);
    },
  };
  return {
    fs: files,
    fail(code, options) {
      failing = code;
      spareMeta = options?.spareMeta ?? false;
    },
    get syncs() {
      return syncs;
    },
  };
}

/**
 * Opens durable outboxes for one test file and closes each after its test (a crash is played by
 * dropping an outbox without closing it; the closing here only releases what the test left open).
 */
export function outboxesClosedAfterEach(): (options: DurableOutboxOptions) => DurableOutbox {
  const open: DurableOutbox[] = [];
  afterEach(async () => {
    for (const outbox of open.splice(0)) await outbox.close();
  });
  return (options) => {
    const outbox = new DurableOutbox(options);
    open.push(outbox);
    return outbox;
  };
}

import fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DurableOutbox } from '../../src/engine/outbox/durable/durableOutbox.ts';
import { segmentNumber } from '../../src/engine/outbox/durable/segment.ts';
import { isItemKind } from '../../src/engine/outbox/durable/segmentEntry.ts';
import { SegmentScanner } from '../../src/engine/outbox/durable/segmentScanner.ts';
import type { GapInfo } from '../../src/engine/outbox/outbox.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { seededRandom } from '../support/seededRandom.ts';
import {
  event,
  expectContiguous,
  put,
  readAll,
  sample,
  state,
  tempOutboxPath,
} from './durableOutboxSupport.ts';

/**
 * A power cut or a bad disk leaves an outbox torn or corrupt. Hundreds of seeded cases truncate segment
 * files at random offsets, flip random bytes, or overwrite random ranges (and, a few, the meta file); in
 * every one the outbox opens, keeps every record whose bytes are intact, reports each damaged range
 * exactly (between intact neighbours; the torn tail up to the last sequence number the clean close wrote
 * down), carries on numbering after it, and a second start finds the same.
 */
const RECORDS = 1000;
const ACKED = 100;
/** Syncing is not what is tested here (files are damaged directly): skip it, for speed. */
const fileSystem = { ...fs, fdatasyncSync: () => {}, fsyncSync: () => {} };

interface Layout {
  /** Each item record: its file, byte range and sequence number. */
  records: Array<{ file: string; start: number; end: number; seq: number }>;
  /** Each record's item text, by sequence number. */
  texts: Map<number, string>;
  epoch: string;
}

function buildBase(segmentBytes: number): { dir: string; layout: Layout } {
  const dir = tempOutboxPath();
  const clock = new SimulatedClock();
  const outbox = new DurableOutbox({ path: dir, clock, segmentBytes, fileSystem });
  for (let i = 1; i <= RECORDS; i++)
    put(outbox, i % 7 === 0 ? event(i) : i % 11 === 0 ? state(`k${i % 3}`, i) : sample(i));
  outbox.acknowledge(ACKED);
  void outbox.close();
  const layout: Layout = { records: [], texts: new Map(), epoch: outbox.epoch };
  for (const file of segmentFilesOf(dir)) {
    const fd = fs.openSync(join(dir, file), 'r');
    const scanner = new SegmentScanner(fs, fd, 0, fs.fstatSync(fd).size);
    while (scanner.next()) {
      const { kind, seq, offset, size } = scanner.view;
      if (!isItemKind(kind)) continue;
      layout.records.push({ file, start: offset, end: offset + size, seq });
      layout.texts.set(seq, scanner.payloadText());
    }
    fs.closeSync(fd);
  }
  return { dir, layout };
}

function segmentFilesOf(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => segmentNumber(name) !== undefined)
    .sort();
}

type Damage = { kind: 'truncate' | 'flip' | 'overwrite' | 'meta'; file: string; detail: string };

/** Damages a copy of the outbox; returns what was done and, per file, which byte offsets changed. */
function damage(
  dir: string,
  random: () => number,
  caseNo: number,
): { damage: Damage; changed: Map<string, (offset: number) => boolean> } {
  const files = segmentFilesOf(dir);
  const sizes = files.map((file) => fs.statSync(join(dir, file)).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const pick = () => {
    let at = Math.floor(random() * total);
    for (let i = 0; i < files.length; i++) {
      if (at < sizes[i]!) return { file: files[i]!, offset: at };
      at -= sizes[i]!;
    }
    throw new Error('unreachable');
  };
  const changed = new Map<string, (offset: number) => boolean>();
  const mode = caseNo % 20 === 19 ? 'meta' : (['truncate', 'flip', 'overwrite'] as const)[caseNo % 3]!;
  if (mode === 'meta') {
    const path = join(dir, 'outbox.meta');
    const bytes = fs.readFileSync(path);
    const slots = caseNo % 40 === 39 ? [0, 1] : [Math.floor(random() * 2)];
    for (const slot of slots)
      for (let k = 0; k < 4; k++) bytes[slot * 512 + Math.floor(random() * 80)]! ^= 0xff;
    fs.writeFileSync(path, bytes);
    return { damage: { kind: 'meta', file: 'outbox.meta', detail: `slots ${slots.join(',')}` }, changed };
  }
  if (mode === 'truncate') {
    const { file, offset } = pick();
    fs.truncateSync(join(dir, file), offset);
    changed.set(file, (at) => at >= offset);
    return { damage: { kind: 'truncate', file, detail: `at ${offset}` }, changed };
  }
  const edits = new Map<string, Set<number>>();
  const flips = mode === 'flip' ? 1 + Math.floor(random() * 6) : 1;
  const details: string[] = [];
  for (let k = 0; k < flips; k++) {
    const { file, offset } = pick();
    const path = join(dir, file);
    const bytes = fs.readFileSync(path);
    const length = mode === 'flip' ? 1 : 1 + Math.floor(random() * 2000);
    const zeros = random() < 0.3;
    const set = edits.get(file) ?? new Set<number>();
    for (let at = offset; at < Math.min(bytes.length, offset + length); at++) {
      const before = bytes[at]!;
      bytes[at] =
        mode === 'flip' ? before ^ (1 + Math.floor(random() * 255)) : zeros ? 0 : Math.floor(random() * 256);
      if (bytes[at] !== before) set.add(at);
    }
    edits.set(file, set);
    fs.writeFileSync(path, bytes);
    details.push(`${file}@${offset}+${length}`);
  }
  for (const [file, set] of edits) changed.set(file, (at) => set.has(at));
  return { damage: { kind: mode, file: [...edits.keys()].join(','), detail: details.join(' ') }, changed };
}

/** Maximal runs of sequence numbers in a sorted list. */
function runs(seqs: number[]): Array<{ fromSeq: number; toSeq: number }> {
  const out: Array<{ fromSeq: number; toSeq: number }> = [];
  for (const seq of seqs) {
    const last = out[out.length - 1];
    if (last && last.toSeq + 1 === seq) last.toSeq = seq;
    else out.push({ fromSeq: seq, toSeq: seq });
  }
  return out;
}

describe('DurableOutbox: torn and corrupt files', () => {
  for (const segmentBytes of [1024 * 1024, 6 * 1024]) {
    it(`always starts, keeps every intact record and reports each damaged range (${segmentBytes / 1024} KiB segments, 150 seeded cases)`, async () => {
      const base = buildBase(segmentBytes);
      const files = segmentFilesOf(base.dir).length;
      expect(segmentBytes > 100_000 ? files === 1 : files > 5).toBe(true);
      const random = seededRandom(segmentBytes);
      for (let caseNo = 0; caseNo < 150; caseNo++) {
        const dir = tempOutboxPath();
        fs.cpSync(base.dir, dir, { recursive: true });
        const { damage: done, changed } = damage(dir, random, caseNo);
        const context = `case ${caseNo}: ${done.kind} ${done.file} ${done.detail}`;

        const lost = base.layout.records
          .filter((r) => r.seq > ACKED)
          .filter((r) => {
            const hit = changed.get(r.file);
            if (!hit) return false;
            for (let at = r.start; at < r.end; at++) if (hit(at)) return true;
            return false;
          })
          .map((r) => r.seq);
        const lostSet = new Set(lost);

        const clock = new SimulatedClock();
        const outbox = new DurableOutbox({ path: dir, clock, segmentBytes, fileSystem });
        const gaps: GapInfo[] = [];
        outbox.on('gap', (gap) => gaps.push(gap));
        await Promise.resolve();
        expect(outbox.epoch, context).toBe(base.layout.epoch);
        const metaIntact = done.kind !== 'meta' || done.detail === 'slots 0' || done.detail === 'slots 1';
        if (done.kind === 'meta') {
          // The meta file's newest state may be gone: numbering must still never go back.
          expect(outbox.lastSeq, context).toBeGreaterThanOrEqual(RECORDS);
          expect(metaIntact || outbox.recovery.lost?.reason === 'corrupt', context).toBe(true);
        } else {
          expect(outbox.lastSeq, context).toBe(RECORDS);
          const expected = runs(lost);
          const tail = expected.at(-1)?.toSeq === RECORDS ? expected.pop() : undefined;
          expect(outbox.recovery.damaged, context).toEqual(expected.map((r) => gapOf(r)));
          expect(outbox.recovery.lost, context).toEqual(tail ? gapOf(tail) : undefined);
          expect(gaps, context).toEqual(tail ? [...expected.map(gapOf), gapOf(tail)] : expected.map(gapOf));
        }

        // What the aggregator would receive: every intact record as it was, every damaged range as a gap.
        const held = readAll(outbox, ACKED);
        expectContiguous(held, held[0]?.seq ?? ACKED + 1, outbox.lastSeq);
        const problems: string[] = [];
        const delivered = new Set<number>();
        for (const { seq, item } of held) {
          if (item[0] === 'g') {
            if (item[4] !== 'corrupt') problems.push(`gap ${seq} reason ${item[4]}`);
            for (let s = Math.max(seq, ACKED + 1); s <= Math.min(item[2], RECORDS); s++)
              if (metaIntact && !lostSet.has(s)) problems.push(`intact ${s} reported lost`);
          } else if (JSON.stringify(item) !== base.layout.texts.get(seq)) problems.push(`${seq} differs`);
          else delivered.add(seq);
        }
        for (let seq = ACKED + 1; seq <= RECORDS; seq++)
          if (delivered.has(seq) === lostSet.has(seq))
            problems.push(`${seq} ${lostSet.has(seq) ? 'damaged but delivered' : 'intact but missing'}`);
        expect(problems.slice(0, 10), context).toEqual([]);

        // It carries on, and a second start (after a crash) finds exactly the same and the new record.
        const next = put(outbox, sample(9999));
        expect(next, context).toBe(outbox.lastSeq);
        await clock.advance(100);
        const again = new DurableOutbox({ path: dir, clock: new SimulatedClock(), segmentBytes, fileSystem });
        expect(again.recovery.lost, context).toBeUndefined();
        expect(again.recovery.damaged, context).toEqual(outbox.recovery.damaged);
        expect(readAll(again, ACKED), context).toEqual([
          ...held,
          { seq: next, item: ['s', 'tag0', 10_999, 9999, 'degC'] },
        ]);
        await again.close();
        await outbox.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
      fs.rmSync(base.dir, { recursive: true, force: true });
    }, 180_000);
  }
});

function gapOf(run: { fromSeq: number; toSeq: number }): GapInfo {
  return { ...run, count: run.toSeq - run.fromSeq + 1, reason: 'corrupt' };
}

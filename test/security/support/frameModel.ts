import type { StoredGap, StoredRecord } from '../../../src/aggregator/store/recordStore.ts';

/**
 * What the aggregator should do with each frame, worked out independently of its code: the protocol as
 * the README states it (Protocol v1, Limits: errors that keep the link, errors that close it and with which code, acks after
 * commit, exactly-once by sequence number), and what the store should then hold.
 */

/** A frame as the fuzzer built it, with the class it was built to be. */
export type Frame =
  | { class: 'oversize'; text: string }
  /** A frame whose checksum is missing, misplaced or wrong (corrupted on the way): refused unread. */
  | { class: 'badChecksum'; text: string }
  | { class: 'malformed'; text: string }
  | { class: 'notObject'; text: string }
  | { class: 'unknownType'; text: string }
  /** A message of a known type that breaks its schema (wrong types, bad items, bad numbers). */
  | { class: 'invalid'; text: string }
  | { class: 'hello'; text: string; v: number; engineId: string; epoch: string }
  /** A schema-valid records frame (from and items are read back from the text, as the wire carries them). */
  | { class: 'records'; text: string }
  | { class: 'bye'; text: string }
  /** pong, commandResult nobody waits for: no answer. */
  | { class: 'quiet'; text: string };

/** The aggregator's answers on one link, as short strings: `welcome:3`, `ack:7`, `error:invalid-message`. */
export interface LinkExpectation {
  answers: string[];
  /** The close code the aggregator ends the link with, once it does. */
  close: number | undefined;
}

export interface ModelLink {
  engineId: string;
  /** Still open at the aggregator (not closed by it, nor by the engine). */
  open: boolean;
  epoch: string | undefined;
  expected: LinkExpectation;
}

interface ModelStream {
  engineId: string;
  epoch: string;
  mark: number;
  records: StoredRecord[];
  gaps: StoredGap[];
}

type WireItem = [string, ...unknown[]];

export const CLOSE = { normal: 1000, protocol: 1002, policy: 1008, tooBig: 1009, replaced: 4001 } as const;

export class AggregatorModel {
  /** Streams in the order the store creates them (at the first hello of an engine epoch). */
  private readonly streams = new Map<string, ModelStream>();
  private readonly currentEpoch = new Map<string, string>();
  private readonly inserted = new Map<string, number>();
  private readonly duplicates = new Map<string, number>();
  /** The aggregator's current link per engine. */
  private readonly links = new Map<string, ModelLink>();

  constructor(readonly maxRecordsPerFrame: number) {}

  /** The high-water mark of an engine epoch (0: nothing stored). */
  mark(engineId: string, epoch: string): number {
    return this.streams.get(`${engineId}\n${epoch}`)?.mark ?? 0;
  }

  /** A link the aggregator accepted: it replaces the engine's current one. */
  accepted(engineId: string): ModelLink {
    const previous = this.links.get(engineId);
    if (previous?.open) {
      previous.expected.answers.push('error:replaced');
      this.close(previous, CLOSE.replaced);
    }
    const link: ModelLink = {
      engineId,
      open: true,
      epoch: undefined,
      expected: { answers: [], close: undefined },
    };
    this.links.set(engineId, link);
    return link;
  }

  /** The engine hung up. */
  hungUp(link: ModelLink): void {
    link.open = false;
  }

  /** What the aggregator does with one frame on `link`. */
  receive(link: ModelLink, frame: Frame): void {
    if (!link.open) return;
    const answer = (s: string) => link.expected.answers.push(s);
    switch (frame.class) {
      case 'oversize':
        answer('error:frame-too-large');
        this.close(link, CLOSE.tooBig);
        return;
      case 'badChecksum':
        // One bad frame: nothing of it is used, the link stays open.
        answer('error:bad-checksum');
        return;
      case 'malformed':
        answer('error:malformed-frame');
        return;
      case 'notObject':
      case 'invalid':
        answer('error:invalid-message');
        return;
      case 'unknownType':
        answer('error:unknown-type');
        return;
      case 'quiet':
        return;
      case 'bye':
        this.close(link, CLOSE.normal);
        return;
      case 'hello':
        if (link.epoch !== undefined) answer('error:invalid-message');
        else if (frame.v !== 1) {
          answer('error:unsupported-version');
          this.close(link, CLOSE.protocol);
        } else if (frame.engineId !== link.engineId) {
          answer('error:engine-mismatch');
          this.close(link, CLOSE.policy);
        } else {
          link.epoch = frame.epoch;
          this.stream(link.engineId, frame.epoch);
          this.currentEpoch.set(link.engineId, frame.epoch);
          answer(`welcome:${this.mark(link.engineId, frame.epoch)}`);
        }
        return;
      case 'records': {
        const { from, items } = JSON.parse(frame.text) as { from: number; items: WireItem[] };
        if (items.length > this.maxRecordsPerFrame) {
          answer('error:too-many-records');
          this.close(link, CLOSE.policy);
        } else if (link.epoch === undefined) answer('error:not-ready');
        else {
          const stream = this.stream(link.engineId, link.epoch);
          if (from > stream.mark + 1) {
            answer('error:sequence-gap');
            this.close(link, CLOSE.protocol);
          } else answer(`ack:${this.store(stream, from, items)}`);
        }
        return;
      }
    }
  }

  /** Every stream, in store order. */
  allStreams(): ModelStream[] {
    return [...this.streams.values()];
  }

  /** Engines the store knows (said hello at least once), by id. */
  engineIds(): string[] {
    return [...this.currentEpoch.keys()].sort();
  }

  view(engineId: string) {
    const epoch = this.currentEpoch.get(engineId);
    return {
      epoch: epoch ?? null,
      persistedSeq: epoch === undefined ? 0 : this.mark(engineId, epoch),
      persistedCount: this.inserted.get(engineId) ?? 0,
      duplicatesIgnored: this.duplicates.get(engineId) ?? 0,
    };
  }

  gaps(engineId: string): StoredGap[] {
    return this.allStreams()
      .filter((s) => s.engineId === engineId)
      .flatMap((s) => s.gaps);
  }

  private close(link: ModelLink, code: number): void {
    link.open = false;
    link.expected.close = code;
  }

  private stream(engineId: string, epoch: string): ModelStream {
    const key = `${engineId}\n${epoch}`;
    let stream = this.streams.get(key);
    if (!stream) {
      stream = { engineId, epoch, mark: 0, records: [], gaps: [] };
      this.streams.set(key, stream);
    }
    return stream;
  }

  /** Exactly once: what is above the mark is stored, what is at or below it is a duplicate. */
  private store(stream: ModelStream, from: number, items: WireItem[]): number {
    const { engineId, epoch } = stream;
    const mark = stream.mark;
    let seq = from;
    const count = (map: Map<string, number>) => map.set(engineId, (map.get(engineId) ?? 0) + 1);
    for (const item of items) {
      if (item[0] === 'g') {
        const toSeq = item[2] as number;
        if (toSeq <= mark) count(this.duplicates);
        else {
          const fromSeq = Math.max(seq, mark + 1);
          stream.gaps.push({
            epoch,
            fromSeq,
            toSeq,
            count: Math.min(item[3] as number, toSeq - fromSeq + 1),
            reason: item[4] as StoredGap['reason'],
          });
        }
        seq = toSeq + 1;
        continue;
      }
      if (seq <= mark) count(this.duplicates);
      else {
        stream.records.push(expectedRecord(epoch, seq, item));
        count(this.inserted);
      }
      seq++;
    }
    stream.mark = Math.max(mark, seq - 1);
    return stream.mark;
  }
}

/** The record the store should give back for an item received at `seq`. */
export function expectedRecord(epoch: string, seq: number, item: WireItem): StoredRecord {
  const [kind, key, t] = item as [string, string, number];
  switch (kind) {
    case 's': {
      const record: StoredRecord = { epoch, seq, kind: 'sample', key, t, value: item[3] as never };
      if (item.length === 5) record.unit = item[4] as string;
      return record;
    }
    case 'f': {
      const record: StoredRecord = {
        epoch,
        seq,
        kind: 'sample',
        key,
        t,
        value: item[3] as never,
        window: { start: item[4] as number, end: item[5] as number, samples: item[6] as number },
      };
      if (item.length === 8) record.unit = item[7] as string;
      return record;
    }
    case 'st':
      return { epoch, seq, kind: 'state', key, t, value: item[3] as never };
    default:
      return { epoch, seq, kind: 'event', key, t, value: item.length === 4 ? (item[3] as never) : undefined };
  }
}

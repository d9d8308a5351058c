import { openAuditSource } from './auditSources.ts';

/** A run event record as the aggregator stored it. */
export interface StoredRunEvent {
  seq: number;
  name: string;
  runId: string | undefined;
  t: number;
  /** A failure's reason (`run.failed`). */
  reason: string | undefined;
}

/** What an aggregator's store holds for one engine and epoch, checked record by record. */
export interface EngineAudit {
  engineId: string;
  epoch: string;
  /** Epochs (streams) the store holds for the engine: one, unless its outbox was lost. */
  epochs: number;
  /** Records stored in this epoch. */
  persisted: number;
  /** The store's high-water mark for this epoch. */
  highWater: number;
  /** Sequence numbers up to `lastSeq` neither stored nor covered by a gap record. */
  missing: number;
  /** Records stored above `lastSeq` (the engine never produced them). */
  extra: number;
  /** Records stored under two sequence numbers: samples with the same tag and time, run events repeated. */
  duplicates: number;
  /** Samples whose time is not after the previous sample's (samples are stamped strictly increasing). */
  outOfOrder: number;
  /** Gap records stored, and the records they account for. */
  gapRecords: number;
  gapCount: number;
  /** Frames and records the aggregator received again and ignored (normal after a reconnect). */
  resentIgnored: number;
  /** The run events (`run.*`), in sequence order. */
  runEvents: StoredRunEvent[];
}

/**
 * Reads the aggregator's store (a SQLite file or a postgres:// URL; the aggregator stopped, or at least
 * quiet) and checks one engine's epoch against what the engine says it produced: every sequence number
 * 1..lastSeq stored once or accounted for by a gap record, nothing above it, no record stored twice under
 * another number, samples in time order.
 */
export async function auditStore(
  db: string,
  engineId: string,
  epoch: string,
  lastSeq: number,
): Promise<EngineAudit> {
  const source = openAuditSource(db);
  try {
    const streams = await source.streams(engineId);
    const stream = streams.find((s) => s.epoch === epoch);
    const audit: EngineAudit = {
      engineId,
      epoch,
      epochs: streams.length,
      persisted: 0,
      highWater: stream?.high_water ?? 0,
      missing: 0,
      extra: 0,
      duplicates: 0,
      outOfOrder: 0,
      gapRecords: 0,
      gapCount: 0,
      resentIgnored: streams.reduce((sum, s) => sum + s.duplicates, 0),
      runEvents: [],
    };
    if (!stream) {
      audit.missing = lastSeq;
      return audit;
    }
    const gaps = await source.gaps(stream.id);
    audit.gapRecords = gaps.length;
    audit.gapCount = gaps.reduce((sum, g) => sum + g.count, 0);
    let expected = 1;
    let gapIndex = 0;
    let lastSampleT = Number.NEGATIVE_INFINITY;
    const samplesSeen = new Set<string>();
    const runEventsSeen = new Set<string>();
    const skipGaps = (upTo: number) => {
      // Advances `expected` over gap records, counting what neither a record nor a gap accounts for.
      while (expected <= upTo) {
        const gap = gaps[gapIndex];
        if (gap && gap.from_seq <= expected) {
          expected = Math.max(expected, gap.to_seq + 1);
          gapIndex++;
          continue;
        }
        const next = Math.min(upTo + 1, gap ? gap.from_seq : upTo + 1);
        audit.missing += next - expected;
        expected = next;
      }
    };
    for await (const row of source.rows(stream.id)) {
      audit.persisted++;
      if (row.seq > lastSeq) {
        audit.extra++;
        continue;
      }
      skipGaps(row.seq - 1);
      expected = row.seq + 1;
      if (row.kind === 0) {
        const identity = `${row.key}\n${row.t}`;
        if (samplesSeen.has(identity)) audit.duplicates++;
        samplesSeen.add(identity);
        if (row.t <= lastSampleT) audit.outOfOrder++;
        lastSampleT = Math.max(lastSampleT, row.t);
      } else if (row.kind === 2 && row.key.startsWith('run.')) {
        const { runId, reason } = runDataOf(row.value);
        const identity = `${row.key}\n${runId}`;
        if (runEventsSeen.has(identity) && row.key !== 'run.phase') audit.duplicates++;
        runEventsSeen.add(identity);
        audit.runEvents.push({ seq: row.seq, name: row.key, runId, t: row.t, reason });
      }
    }
    skipGaps(lastSeq);
    return audit;
  } finally {
    await source.close();
  }
}

function runDataOf(value: number | string | null): { runId?: string; reason?: string } {
  if (typeof value !== 'string') return {};
  try {
    const data = JSON.parse(value) as { runId?: unknown; reason?: unknown };
    return {
      ...(typeof data.runId === 'string' ? { runId: data.runId } : {}),
      ...(typeof data.reason === 'string' ? { reason: data.reason } : {}),
    };
  } catch {
    return {};
  }
}

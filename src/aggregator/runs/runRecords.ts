import type { RunReconciliationEvent } from '../../../machines/runReconciliation.ts';
import type { Item, Json } from '../../protocol/records.ts';
import type { StoredRun } from '../store/runStore.ts';

/** Names of the event records an engine writes about its runs (data: `{ runId, ... }`). */
export const RUN_EVENTS = {
  started: 'run.started',
  completed: 'run.completed',
  failed: 'run.failed',
  phase: 'run.phase',
} as const;

/** One run record among persisted items: its sequence number, name, engine time and data. */
export interface RunRecord {
  seq: number;
  name: string;
  t: number;
  data: Record<string, Json>;
  /** `data.runId`, when it is a string. */
  runId: string | undefined;
}

/** The run records (`run.*` events) among the items of a frame from `from`, above `markBefore`. */
export function* runRecordsIn(from: number, items: readonly Item[], markBefore: number): Iterable<RunRecord> {
  let seq = from;
  for (const item of items) {
    if (item[0] === 'g') {
      seq = item[2] + 1;
      continue;
    }
    if (seq > markBefore && item[0] === 'e' && item[1].startsWith('run.')) {
      const data = dataOf(item[3]);
      yield {
        seq,
        name: item[1],
        t: item[2],
        data,
        runId: typeof data.runId === 'string' ? data.runId : undefined,
      };
    }
    seq++;
  }
}

/** The machine's event for a run's end record (`run.completed` or `run.failed`). */
export function endEvent(record: RunRecord): RunReconciliationEvent {
  return record.name === RUN_EVENTS.completed
    ? { type: 'RUN_COMPLETED', endedAt: record.t }
    : {
        type: 'RUN_FAILED',
        endedAt: record.t,
        reason: typeof record.data.reason === 'string' ? record.data.reason : 'failed',
      };
}

/**
 * A run as its first record tells it: from its start record, or from its end record when the start never
 * arrived (its `startedAt` then). `since`: aggregator time. Its state is the machine's to set.
 */
export function newRun(engineId: string, epoch: string, record: RunRecord, since: number): StoredRun {
  const startedAt =
    record.name !== RUN_EVENTS.started && typeof record.data.startedAt === 'number'
      ? record.data.startedAt
      : record.t;
  return {
    id: record.runId ?? '',
    engineId,
    epoch,
    state: 'active',
    startedAt,
    endedAt: null,
    reason: null,
    method: typeof record.data.method === 'string' ? record.data.method : null,
    phase: 'running',
    startSeq: record.seq,
    endSeq: null,
    since,
  };
}

function dataOf(value: Json | undefined): Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
}

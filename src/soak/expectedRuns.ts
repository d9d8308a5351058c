import { REASON_ENGINE_RESTARTED, REASON_NOT_RUNNING } from '../../machines/runReconciliation.ts';
import type { RunLine } from './engineLines.ts';
import type { StoredRunEvent } from './storeAudit.ts';

/** One engine process, from its start line to its death (SIGKILL) or its clean stop (SIGTERM, drained). */
export interface Lifetime {
  epoch: string;
  /** The outbox's last sequence number when the process started: its records come after it. */
  startSeq: number;
  runs: RunLine[];
  end: 'killed' | 'stopped';
}

export type ExpectedRunState = 'completed' | 'failed' | 'interrupted' | 'unconfirmed';

export interface ExpectedRun {
  runId: string;
  state: ExpectedRunState;
  startedAt: number;
  endedAt: number | null;
  reason: string | null;
}

const RUN_EVENT = { started: 'run.started', completed: 'run.completed', failed: 'run.failed' } as const;

/**
 * The run states the aggregator must end up with, from what the engine did:
 *
 * - a run that started and ended in one process: `completed` or `failed`, with the engine's own start
 *   and end times (and the failure's reason);
 * - a run still going when its process was killed with SIGKILL: `interrupted`, reason "engine no longer
 *   runs it and sent no end" when the restarted process kept the epoch (its durable outbox), "engine
 *   restarted during the run" when it came back with a new one;
 * - a run still going when the engine was stopped at the end (SIGTERM): `unconfirmed` (the link is gone
 *   and its outcome unknown until the engine is back).
 *
 * The events come from the store, each checked against the engine's printed lines: every printed start or
 * end must be stored at its sequence number. A process killed between handing a record over and printing
 * it leaves one run event that was never printed: accepted only as the last run event of a killed process.
 */
export function expectedRuns(
  lifetimes: readonly Lifetime[],
  finalLastSeq: number,
  stored: readonly StoredRunEvent[],
): { runs: ExpectedRun[]; problems: string[] } {
  const problems: string[] = [];
  const runs: ExpectedRun[] = [];
  const bySeq = new Map(stored.map((event) => [event.seq, event]));
  lifetimes.forEach((life, i) => {
    const next = lifetimes[i + 1];
    const endSeq = next ? next.startSeq : finalLastSeq;
    const events = stored.filter(
      (e) => e.seq > life.startSeq && e.seq <= endSeq && e.name !== 'run.phase' && e.name.startsWith('run.'),
    );
    for (const line of life.runs) {
      const event = bySeq.get(line.seq);
      if (!event || event.name !== RUN_EVENT[line.event] || event.runId !== line.runId)
        problems.push(`run ${line.runId}: ${line.event} printed at seq ${line.seq} is not in the store`);
    }
    const printed = new Set(life.runs.map((line) => line.seq));
    const lastPrinted = Math.max(life.startSeq, ...life.runs.map((line) => line.seq));
    const unprinted = events.filter((e) => !printed.has(e.seq));
    if (unprinted.length > 0) {
      const tolerated = life.end === 'killed' && unprinted.length === 1 && unprinted[0]!.seq > lastPrinted;
      if (!tolerated)
        problems.push(
          `run events stored that the engine never printed: ${unprinted
            .map((e) => `${e.name} ${e.runId} @${e.seq}`)
            .join(', ')}`,
        );
    }
    const open = new Map<string, number>();
    for (const event of events) {
      const runId = event.runId ?? '?';
      if (event.name === RUN_EVENT.started) {
        open.set(runId, event.t);
        continue;
      }
      const startedAt = open.get(runId);
      if (startedAt === undefined) {
        problems.push(`run ${runId}: ${event.name} @${event.seq} without a start in the same process`);
        continue;
      }
      open.delete(runId);
      const failed = event.name === RUN_EVENT.failed;
      runs.push({
        runId,
        state: failed ? 'failed' : 'completed',
        startedAt,
        endedAt: event.t,
        reason: failed ? (event.reason ?? 'failed') : null,
      });
    }
    for (const [runId, startedAt] of open) {
      if (life.end === 'stopped') {
        runs.push({ runId, state: 'unconfirmed', startedAt, endedAt: null, reason: null });
        continue;
      }
      const sameEpoch = next !== undefined && next.epoch === life.epoch;
      runs.push({
        runId,
        state: 'interrupted',
        startedAt,
        endedAt: null,
        reason: sameEpoch ? REASON_NOT_RUNNING : REASON_ENGINE_RESTARTED,
      });
    }
  });
  return { runs, problems };
}

/** A run as `GET /api/runs` shows it (the fields compared). */
export interface RunView {
  id: string;
  /** The engine epoch the run started in. */
  epoch?: string;
  state: string;
  startedAt: number;
  endedAt: number | null;
  reason: string | null;
}

/** Differences between the expected runs and the aggregator's, one line each. */
export function compareRuns(expected: readonly ExpectedRun[], actual: readonly RunView[]): string[] {
  const differences: string[] = [];
  const byId = new Map(actual.map((run) => [run.id, run]));
  for (const want of expected) {
    const got = byId.get(want.runId);
    byId.delete(want.runId);
    if (!got) {
      differences.push(`run ${want.runId}: expected ${want.state}, not in the aggregator`);
      continue;
    }
    const fields: string[] = [];
    if (got.state !== want.state) fields.push(`state ${got.state} (expected ${want.state})`);
    if (got.startedAt !== want.startedAt)
      fields.push(`startedAt ${got.startedAt} (expected ${want.startedAt})`);
    if (got.endedAt !== want.endedAt) fields.push(`endedAt ${got.endedAt} (expected ${want.endedAt})`);
    if ((got.reason ?? null) !== want.reason)
      fields.push(`reason "${got.reason}" (expected "${want.reason}")`);
    if (fields.length > 0) differences.push(`run ${want.runId}: ${fields.join(', ')}`);
  }
  for (const extra of byId.values())
    differences.push(`run ${extra.id}: ${extra.state} in the aggregator, not expected`);
  return differences;
}

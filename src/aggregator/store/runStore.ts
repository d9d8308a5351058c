/** The runs half of the store: one row per run, written by the run ledger in the transactions of the records that justify it. */
export interface RunStore {
  /** Inserts or replaces a run. */
  saveRun(run: StoredRun): void;
  /** Runs, newest start first, filtered. */
  runs(query?: RunQuery): StoredRun[];
  /** One run of an engine (or of any engine when `engineId` is omitted). */
  run(runId: string, engineId?: string): StoredRun | undefined;
}

/**
 * The states of a run: `active`, `unconfirmed` (outcome unknown while the engine is away), `completed`,
 * `failed`, `interrupted`.
 */
export type StoredRunState = 'active' | 'unconfirmed' | 'completed' | 'failed' | 'interrupted';

/** A run as the aggregator keeps it: engine times for start and end, aggregator time for `since`. */
export interface StoredRun {
  id: string;
  engineId: string;
  /** The engine epoch the run started in. */
  epoch: string;
  state: StoredRunState;
  /** Engine time the run started (ms since the Unix epoch). */
  startedAt: number;
  /** Engine time the run ended (null while it has not). */
  endedAt: number | null;
  /** Why it failed or was interrupted. */
  reason: string | null;
  /** The method or recipe the engine named when it started the run. */
  method: string | null;
  /** Latest phase the engine reported (running, paused, ...). */
  phase: string;
  /** Sequence number of the start record, and of the end record once it came. */
  startSeq: number;
  endSeq: number | null;
  /** Aggregator time the run entered `state`. */
  since: number;
}

/** Which runs `listRuns()` returns (newest first). */
export interface RunQuery {
  engineId?: string;
  states?: readonly StoredRunState[];
  epoch?: string;
  limit?: number;
}

/** A row of the runs table, as both stores read it (the same columns in SQLite and PostgreSQL). */
export interface RunRow {
  engine_id: string;
  id: string;
  epoch: string;
  state: StoredRun['state'];
  started_at: number;
  ended_at: number | null;
  reason: string | null;
  method: string | null;
  phase: string;
  start_seq: number;
  end_seq: number | null;
  since: number;
}

export function runFromRow(row: RunRow): StoredRun {
  return {
    id: row.id,
    engineId: row.engine_id,
    epoch: row.epoch,
    state: row.state,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    reason: row.reason,
    method: row.method,
    phase: row.phase,
    startSeq: row.start_seq,
    endSeq: row.end_seq,
    since: row.since,
  };
}

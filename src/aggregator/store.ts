import type { GapReason, Item, Json } from '../protocol/records.ts';

/**
 * Where the aggregator persists what engines send. One ordered stream of records per (engine, epoch),
 * each with a high-water mark: the highest sequence number persisted, written in the same transaction as
 * the records it covers. That is what makes ingest exactly-once.
 *
 * The interface is synchronous on purpose: the aggregator acknowledges a frame only after its commit,
 * and a synchronous store (SQLite in-process) lets the frames read in one turn of the event loop be
 * committed together (see GroupCommit) and acknowledged in arrival order.
 */
export interface Store {
  /**
   * Persists the items of one `records` frame in one transaction (or in the enclosing one, when called
   * inside `transaction`): those above the stream's high-water mark are stored and the mark moves past
   * them; those at or below it are counted as duplicates. Throws `ProtocolError(sequence-gap)` before
   * writing anything when `from` is beyond the mark + 1.
   */
  ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): IngestResult;
  /** The highest sequence number persisted for the engine's epoch (0 when none). */
  highWaterMark(engineId: string, epoch: string): number;
  /** Stored records in sequence order; `epoch` defaults to the engine's current epoch. */
  records(engineId: string, query?: RecordQuery): StoredRecord[];
  /**
   * The newest state record of each key (states: latest value wins) among the records above `afterSeq`
   * of the engine's stream, by key; `epoch` defaults to the engine's current epoch.
   */
  latestStates(engineId: string, query?: { epoch?: string; afterSeq?: number }): StoredRecord[];
  /** Every gap recorded for the engine, oldest stream first, then in sequence order. */
  gaps(engineId: string): StoredGap[];
  /** One line per known engine. */
  engineSummaries(): EngineSummary[];
  /** Records that the engine was seen at `at` (ms since the Unix epoch) speaking `epoch`. */
  touchEngine(engineId: string, epoch: string, at: number): void;
  /**
   * Runs `work` in one transaction (nested calls join it): records and the run states they justify
   * are committed together or not at all.
   */
  transaction<T>(work: () => T): T;
  /**
   * Inside `transaction`: runs `callback` once the outermost transaction has committed (at once outside
   * one). What is said about a write (events, logs) waits for it to be durable. It must not throw.
   */
  afterCommit(callback: () => void): void;
  /**
   * Inside `transaction`: runs `callback` if the transaction open now (a nested one included) is rolled
   * back, or the outermost one fails to commit; newest first. Memory that follows the store puts itself
   * back. It must not throw. Outside a transaction: nothing to undo, nothing done.
   */
  onRollback(callback: () => void): void;
  /** Inserts or replaces a run. */
  saveRun(run: StoredRun): void;
  /** Runs, newest start first, filtered. */
  runs(query?: RunQuery): StoredRun[];
  /** One run of an engine (or of any engine when `engineId` is omitted). */
  run(runId: string, engineId?: string): StoredRun | undefined;
  /** Records stored for an engine's epoch in a sequence range (inclusive). */
  countRecords(engineId: string, epoch: string, fromSeq: number, toSeq: number): number;
  close(): void;
}

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

export interface RunQuery {
  engineId?: string;
  states?: readonly StoredRunState[];
  epoch?: string;
  limit?: number;
}

export interface IngestResult {
  /** The stream's high-water mark after the commit: what may be acknowledged. */
  persistedSeq: number;
  /** Records (samples, states, events) stored by this call. */
  inserted: number;
  /** Items at or below the high-water mark: already stored, ignored. */
  duplicates: number;
  /** Gap items stored by this call. */
  gaps: number;
}

export type StoredRecordKind = 'sample' | 'state' | 'event';

export interface StoredRecord {
  epoch: string;
  seq: number;
  kind: StoredRecordKind;
  /** The sample's tag, the state's key or the event's name. */
  key: string;
  /** Engine time, ms since the Unix epoch. */
  t: number;
  /** The sample or state value, or the event data (`undefined` when the event has none). */
  value: Json | undefined;
  unit?: string;
  /** For a sample thinned while the engine was offline: the window it stands for. */
  window?: SampleWindow;
}

/** A thinned sample's window: `samples` samples taken in [start, end), of which the record is the latest. */
export interface SampleWindow {
  start: number;
  end: number;
  samples: number;
}

export interface RecordQuery {
  epoch?: string;
  /** Only records with a sequence number above this one. */
  afterSeq?: number;
  limit?: number;
}

export interface StoredGap {
  epoch: string;
  fromSeq: number;
  toSeq: number;
  /** How many records of the range were dropped (a coalesced range may have held fewer). */
  count: number;
  reason: GapReason;
}

export interface EngineSummary {
  engineId: string;
  /** The epoch the engine last said hello with (null when it never did). */
  epoch: string | null;
  /** The high-water mark of that epoch. */
  persistedSeq: number;
  /** Records stored over all epochs. */
  persistedCount: number;
  /** Items received again and ignored, over all epochs. */
  duplicatesIgnored: number;
  /** When a frame of the engine was last seen, ms since the Unix epoch (null: never). */
  lastSeenAt: number | null;
}

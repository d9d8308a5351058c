import type { Item } from '../../protocol/records.ts';
import type { EngineLeases } from './engineLeases.ts';
import type { FleetRegistry } from './fleetRegistry.ts';
import type { EngineSummary, IngestResult, RecordQuery, StoredGap, StoredRecord } from './recordStore.ts';
import type { RunQuery, StoredRun } from './runStore.ts';
import type { StoreAvailability } from './storeAvailability.ts';

/**
 * The store's interface where every call may wait for a server (PostgreSQL): the same methods as
 * RecordStore, RunStore and Transactions, each answering with a promise. A call made inside `transaction`
 * (in its async context: awaited from within `work`) joins that transaction, as with the synchronous
 * store; a nested `transaction` is a savepoint.
 *
 * The aggregator runs on this interface: `PostgresStore`, and `SqliteStore` behind `AsyncSqliteStore`.
 * The store conformance suite (test/aggregator/store/) holds both to the same behaviour.
 */
export interface AsyncRecordStore {
  /**
   * As `RecordStore.ingest`: stores the items above the stream's high-water mark, counts the others as
   * duplicates; rejects with `SequenceGapError` before writing anything when `from` is beyond the mark + 1.
   */
  ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): Promise<IngestResult>;
  /** The highest sequence number persisted for the engine's epoch (0 when none). */
  highWaterMark(engineId: string, epoch: string): Promise<number>;
  /** Stored records in sequence order; `epoch` defaults to the engine's current epoch. */
  records(engineId: string, query?: RecordQuery): Promise<StoredRecord[]>;
  /** The newest state record of each key among the records above `afterSeq` of the engine's stream. */
  latestStates(engineId: string, query?: { epoch?: string; afterSeq?: number }): Promise<StoredRecord[]>;
  /** Every gap recorded for the engine, oldest stream first, then in sequence order. */
  gaps(engineId: string): Promise<StoredGap[]>;
  /** Records stored for an engine's epoch in a sequence range (inclusive). */
  countRecords(engineId: string, epoch: string, fromSeq: number, toSeq: number): Promise<number>;
  /** One line per known engine. */
  engineSummaries(): Promise<EngineSummary[]>;
  /** Notes that the engine was seen at `at` (ms since the Unix epoch) speaking `epoch`. */
  touchEngine(engineId: string, epoch: string, at: number): Promise<void>;
}

/** The runs, as RunStore keeps them, each call answering with a promise. */
export interface AsyncRunStore {
  /** Inserts or replaces a run. */
  saveRun(run: StoredRun): Promise<void>;
  /** Runs, newest start first, filtered. */
  runs(query?: RunQuery): Promise<StoredRun[]>;
  /** One run of an engine (or of any engine when `engineId` is omitted). */
  run(runId: string, engineId?: string): Promise<StoredRun | undefined>;
}

/** Transactions whose work is asynchronous: a call awaited from within `work` joins the transaction. */
export interface AsyncTransactions {
  /** Runs `work` in one transaction (nested calls join it, as a savepoint); commits when it resolves. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /** As Transactions.afterCommit: runs once the outermost transaction has committed. Must not throw. */
  afterCommit(callback: () => void): void;
  /** As Transactions.onRollback: runs if the transaction open now is rolled back. Must not throw. */
  onRollback(callback: () => void): void;
}

/**
 * The store the aggregator runs on: `PostgresStore`, or a `SqliteStore` (which the aggregator uses through
 * AsyncSqliteStore).
 */
export interface AsyncStore extends AsyncRecordStore, AsyncRunStore, AsyncTransactions {
  /** Whether the store can commit now (a PostgreSQL server can go away; SQLite always can). */
  readonly availability: StoreAvailability;
  /**
   * In a fleet of aggregators (PostgreSQL opened with a node id): which engines this node owns.
   *
   * @internal
   */
  readonly leases?: EngineLeases;
  /**
   * One engine's line of `engineSummaries` (stores of a fleet have it).
   *
   * @internal
   */
  engineSummary?(engineId: string): Promise<EngineSummary | undefined>;
  /**
   * In a fleet: the nodes' shared directory (owners, links, messages between nodes).
   *
   * @internal
   */
  readonly fleet?: FleetRegistry;
  /** Commits nothing more and closes the store (the connections, or the database file). */
  close(): Promise<void>;
}

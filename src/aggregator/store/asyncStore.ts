import type { Item } from '../../protocol/records.ts';
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
  ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): Promise<IngestResult>;
  highWaterMark(engineId: string, epoch: string): Promise<number>;
  records(engineId: string, query?: RecordQuery): Promise<StoredRecord[]>;
  latestStates(engineId: string, query?: { epoch?: string; afterSeq?: number }): Promise<StoredRecord[]>;
  gaps(engineId: string): Promise<StoredGap[]>;
  countRecords(engineId: string, epoch: string, fromSeq: number, toSeq: number): Promise<number>;
  engineSummaries(): Promise<EngineSummary[]>;
  touchEngine(engineId: string, epoch: string, at: number): Promise<void>;
}

export interface AsyncRunStore {
  saveRun(run: StoredRun): Promise<void>;
  runs(query?: RunQuery): Promise<StoredRun[]>;
  run(runId: string, engineId?: string): Promise<StoredRun | undefined>;
}

export interface AsyncTransactions {
  /** Runs `work` in one transaction (nested calls join it, as a savepoint); commits when it resolves. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /** As Transactions.afterCommit: runs once the outermost transaction has committed. Must not throw. */
  afterCommit(callback: () => void): void;
  /** As Transactions.onRollback: runs if the transaction open now is rolled back. Must not throw. */
  onRollback(callback: () => void): void;
}

export interface AsyncStore extends AsyncRecordStore, AsyncRunStore, AsyncTransactions {
  /** Whether the store can commit now (a PostgreSQL server can go away; SQLite always can). */
  readonly availability: StoreAvailability;
  close(): Promise<void>;
}

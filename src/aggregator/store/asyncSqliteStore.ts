import type { Item } from '../../protocol/records.ts';
import type { AsyncStore } from './asyncStore.ts';
import type { EngineSummary, IngestResult, RecordQuery, StoredGap, StoredRecord } from './recordStore.ts';
import type { RunQuery, StoredRun } from './runStore.ts';
import { SqliteStore } from './sqliteStore.ts';
import type { SqliteTransactions } from './sqliteTransactions.ts';
import { ALWAYS_AVAILABLE, type StoreAvailability } from './storeAvailability.ts';

/**
 * The SQLite store behind the asynchronous interface (AsyncStore), for code that runs on either backend
 * (the conformance suite, the group-commit pipeline): every answer is already there when the promise is
 * made, and transactions are SqliteTransactions on the same connection.
 */
export class AsyncSqliteStore implements AsyncStore {
  private readonly transactions: SqliteTransactions;
  readonly availability: StoreAvailability = ALWAYS_AVAILABLE;

  constructor(readonly sync: SqliteStore) {
    this.transactions = sync.asyncTransactions();
  }

  async ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): Promise<IngestResult> {
    return this.sync.ingest(engineId, epoch, from, items);
  }

  async highWaterMark(engineId: string, epoch: string): Promise<number> {
    return this.sync.highWaterMark(engineId, epoch);
  }

  async records(engineId: string, query?: RecordQuery): Promise<StoredRecord[]> {
    return this.sync.records(engineId, query);
  }

  async latestStates(
    engineId: string,
    query?: { epoch?: string; afterSeq?: number },
  ): Promise<StoredRecord[]> {
    return this.sync.latestStates(engineId, query);
  }

  async gaps(engineId: string): Promise<StoredGap[]> {
    return this.sync.gaps(engineId);
  }

  async countRecords(engineId: string, epoch: string, fromSeq: number, toSeq: number): Promise<number> {
    return this.sync.countRecords(engineId, epoch, fromSeq, toSeq);
  }

  async engineSummaries(): Promise<EngineSummary[]> {
    return this.sync.engineSummaries();
  }

  async touchEngine(engineId: string, epoch: string, at: number): Promise<void> {
    this.sync.touchEngine(engineId, epoch, at);
  }

  async saveRun(run: StoredRun): Promise<void> {
    this.sync.saveRun(run);
  }

  async runs(query?: RunQuery): Promise<StoredRun[]> {
    return this.sync.runs(query);
  }

  async run(runId: string, engineId?: string): Promise<StoredRun | undefined> {
    return this.sync.run(runId, engineId);
  }

  transaction<T>(work: () => Promise<T>): Promise<T> {
    return this.transactions.transaction(work);
  }

  afterCommit(callback: () => void): void {
    this.transactions.afterCommit(callback);
  }

  onRollback(callback: () => void): void {
    this.transactions.onRollback(callback);
  }

  async close(): Promise<void> {
    this.sync.close();
  }
}

/** The store as the aggregator uses it: a SQLite store is put behind the asynchronous interface. */
export function asAsyncStore(store: AsyncStore | SqliteStore): AsyncStore {
  return store instanceof SqliteStore ? new AsyncSqliteStore(store) : store;
}

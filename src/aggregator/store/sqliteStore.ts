import type Database from 'better-sqlite3';
import type { Item } from '../../protocol/records.ts';
import type { EngineSummary, IngestResult, RecordQuery, StoredGap, StoredRecord } from './recordStore.ts';
import type { RunQuery, StoredRun } from './runStore.ts';
import { SqliteRecords } from './sqliteRecords.ts';
import { SqliteRuns } from './sqliteRuns.ts';
import { migrateSchema } from './sqliteSchema.ts';
import { SqliteTransactions } from './sqliteTransactions.ts';
import type { Store } from './store.ts';
import { isInMemory, openStoreFile } from './storeFile.ts';
import { TransactionCallbacks } from './transactionCallbacks.ts';
import { WalCheckpointer } from './walCheckpointer.ts';

/** Options of the `SqliteStore`. */
export interface SqliteStoreOptions {
  /**
   * Where WAL checkpoints run: `'background'` (default for a file): a thread of the aggregator's own
   * copies committed pages into the database file, so that commits never wait for it; `'inline'`:
   * SQLite's automatic checkpoints, on whichever commit crosses 1000 pages.
   */
  checkpoint?: 'background' | 'inline';
}

/**
 * The SQLite store (better-sqlite3): WAL journal, `synchronous=NORMAL` (a commit survives a process
 * crash; a power loss may take back the last commits, never corrupt the file). Records and runs live in
 * their own halves (SqliteRecords, SqliteRuns); the frames the aggregator reads in one turn of the event
 * loop are committed in one transaction (`transaction`, driven by the aggregator's AsyncGroupCommit), and WAL checkpoints run
 * on a thread of their own (WalCheckpointer).
 */
export class SqliteStore implements Store {
  readonly path: string;
  private readonly db: Database.Database;
  /** This process's hold on the store file (see storeFile.ts). */
  private readonly lock: Database.Database | undefined;
  private readonly recordTables: SqliteRecords;
  private readonly runTables: SqliteRuns;
  /** What to do once each open transaction commits or rolls back. */
  private readonly callbacks = new TransactionCallbacks();
  private closed = false;
  private asyncTransactionsOf: SqliteTransactions | undefined;
  /** Checkpoints the WAL from a thread of its own (file databases). */
  private readonly checkpointer: WalCheckpointer | undefined;
  private checkpointFailure: string | undefined;

  /**
   * Opens (or creates, with its parent directories) the database at `path`; `':memory:'` for none.
   * Refuses with a `StoreOpenError` naming the file, before writing anything to it, a file that is not an
   * engine-link store (another application's database is left untouched), a read-only one, and one that
   * another aggregator holds (see storeFile.ts). A file database is checkpointed from a background
   * thread unless `checkpoint` is `'inline'` (SQLite's automatic checkpoints, on the committing thread).
   */
  constructor(path = ':memory:', options: SqliteStoreOptions = {}) {
    this.path = path;
    ({ db: this.db, lock: this.lock } = openStoreFile(path));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    migrateSchema(this.db, path);
    if (!isInMemory(path) && (options.checkpoint ?? 'background') === 'background') {
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new WalCheckpointer(path, (message) => {
        this.checkpointFailure = message;
        // Back to checkpoints on the committing thread: slower, never unbounded.
        if (!this.closed) this.db.pragma('wal_autocheckpoint = 1000');
      });
    }
    this.recordTables = new SqliteRecords(this.db);
    this.runTables = new SqliteRuns(this.db);
  }

  ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): IngestResult {
    return this.recordTables.ingest(engineId, epoch, from, items);
  }

  highWaterMark(engineId: string, epoch: string): number {
    return this.recordTables.highWaterMark(engineId, epoch);
  }

  records(engineId: string, query?: RecordQuery): StoredRecord[] {
    return this.recordTables.records(engineId, query);
  }

  latestStates(engineId: string, query?: { epoch?: string; afterSeq?: number }): StoredRecord[] {
    return this.recordTables.latestStates(engineId, query);
  }

  gaps(engineId: string): StoredGap[] {
    return this.recordTables.gaps(engineId);
  }

  countRecords(engineId: string, epoch: string, fromSeq: number, toSeq: number): number {
    return this.recordTables.countRecords(engineId, epoch, fromSeq, toSeq);
  }

  engineSummaries(): EngineSummary[] {
    return this.recordTables.engineSummaries();
  }

  touchEngine(engineId: string, epoch: string, at: number): void {
    this.recordTables.touchEngine(engineId, epoch, at);
  }

  saveRun(run: StoredRun): void {
    this.runTables.saveRun(run);
  }

  runs(query?: RunQuery): StoredRun[] {
    return this.runTables.runs(query);
  }

  run(runId: string, engineId?: string): StoredRun | undefined {
    return this.runTables.run(runId, engineId);
  }

  transaction<T>(work: () => T): T {
    return this.callbacks.run(() => this.db.transaction(work).immediate());
  }

  afterCommit(callback: () => void): void {
    this.callbacks.afterCommit(callback);
  }

  onRollback(callback: () => void): void {
    this.callbacks.onRollback(callback);
  }

  /**
   * Transactions whose work is asynchronous, on this store's connection (see AsyncSqliteStore).
   *
   * @internal
   */
  asyncTransactions(): SqliteTransactions {
    this.asyncTransactionsOf ??= new SqliteTransactions(this.db);
    return this.asyncTransactionsOf;
  }

  /** Commits nothing more, stops the checkpoint thread, closes the database and releases the store's lock. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.checkpointer?.close();
    this.db.close();
    this.lock?.close();
  }

  /** How checkpoints go: in the background (with the last one's WAL pages), or why they went inline. */
  checkpointState(): { mode: 'background' | 'inline'; walPages?: number; failure?: string } {
    if (!this.checkpointer || this.checkpointFailure !== undefined)
      return this.checkpointFailure === undefined
        ? { mode: 'inline' }
        : { mode: 'inline', failure: this.checkpointFailure };
    return { mode: 'background', walPages: this.checkpointer.lastLog };
  }
}

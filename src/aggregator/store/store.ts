import type { RecordStore } from './recordStore.ts';
import type { RunStore } from './runStore.ts';

/**
 * Transactions over the store, with what waits for their outcome. Records and the run states they
 * justify are committed together or not at all.
 */
export interface Transactions {
  /** Runs `work` in one transaction (nested calls join it, as a savepoint). */
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
}

/**
 * The synchronous store: records (`RecordStore`), runs (`RunStore`), and the transactions that tie them
 * together, each answered at once. `SqliteStore` implements it (SQLite in-process); the aggregator uses it
 * through the asynchronous interface (`AsyncStore`, by way of `AsyncSqliteStore`), as it uses PostgreSQL.
 * Tests, tools and the bench read a SQLite store through it directly.
 */
export interface Store extends RecordStore, RunStore, Transactions {
  /** Closes the store (the aggregator closes it in its own `close()`). */
  close(): void;
}

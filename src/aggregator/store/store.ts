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
 * Where the aggregator persists what engines send: records (`RecordStore`), runs (`RunStore`), and the
 * transactions that tie them together. `SqliteStore` is the one implementation.
 *
 * The interface is synchronous on purpose: the aggregator acknowledges a frame only after its commit,
 * and a synchronous store (SQLite in-process) lets the frames read in one turn of the event loop be
 * committed together (see GroupCommit) and acknowledged in arrival order. An asynchronous store
 * (PostgreSQL) changes this interface and the group commit, and nothing above them but the session's
 * frame ingest (see ARCHITECTURE.md).
 */
export interface Store extends RecordStore, RunStore, Transactions {
  /** Closes the store (the aggregator closes it in its own `close()`). */
  close(): void;
}

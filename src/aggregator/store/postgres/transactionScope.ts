import { AsyncLocalStorage } from 'node:async_hooks';
import type { IngestBatch } from './ingestBatch.ts';
import type { TxSql } from './postgresConnection.ts';

/**
 * One open transaction of the PostgreSQL store (or a savepoint in one): the connection its statements go
 * to, the records written in it and not yet sent (the outermost transaction's IngestBatch, shared by its
 * savepoints), and what waits for its outcome.
 */
export interface TransactionScope {
  sql: TxSql;
  batch: IngestBatch;
  committed: Array<() => void>;
  rolledBack: Array<() => void>;
  parent: TransactionScope | undefined;
}

/**
 * The open transaction of the current async context: a store call made while `work` runs (awaited from
 * it) finds its transaction here, so that callers need not pass a handle around (as with SQLite, where
 * the connection is the one open transaction).
 */
export class TransactionContext {
  private readonly storage = new AsyncLocalStorage<TransactionScope>();

  current(): TransactionScope | undefined {
    return this.storage.getStore();
  }

  run<T>(scope: TransactionScope, work: () => Promise<T>): Promise<T> {
    return this.storage.run(scope, work);
  }

  /** Hands a released savepoint's callbacks to the transaction around it. */
  static release(scope: TransactionScope): void {
    scope.parent!.committed.push(...scope.committed);
    scope.parent!.rolledBack.push(...scope.rolledBack);
  }

  /** Runs the rollback callbacks of a scope that rolled back, newest first (they must not throw). */
  static undo(scope: TransactionScope): void {
    for (const undo of scope.rolledBack.reverse()) undo();
  }
}

import { AsyncLocalStorage } from 'node:async_hooks';

/** What waits for one open transaction's outcome (a savepoint's, or the outermost transaction's). */
export interface ScopeCallbacks<S> {
  committed: Array<() => void>;
  rolledBack: Array<() => void>;
  /** The transaction this one is a savepoint of (undefined: the outermost). */
  parent: S | undefined;
}

/**
 * The open transaction of the current async context, for a store whose transactions span awaits: a store
 * call made while `work` runs (awaited from it) finds its transaction here, so that callers need not pass
 * a handle around (as with a synchronous SQLite store, where the connection's one open transaction is
 * it). Also the transaction callbacks (`afterCommit`, `onRollback`) and what becomes of them when a
 * savepoint is released or rolled back.
 */
export class TransactionContext<S extends ScopeCallbacks<S>> {
  private readonly storage = new AsyncLocalStorage<S>();

  current(): S | undefined {
    return this.storage.getStore();
  }

  run<T>(scope: S, work: () => Promise<T>): Promise<T> {
    return this.storage.run(scope, work);
  }

  /** Store.afterCommit: once the outermost transaction has committed (at once outside one). */
  afterCommit(callback: () => void): void {
    const scope = this.current();
    if (scope) scope.committed.push(callback);
    else callback();
  }

  /** Store.onRollback: if the transaction open now rolls back (outside one: nothing to undo). */
  onRollback(callback: () => void): void {
    this.current()?.rolledBack.push(callback);
  }

  /** A released savepoint's callbacks become its parent's. */
  static release<S extends ScopeCallbacks<S>>(scope: S): void {
    scope.parent!.committed.push(...scope.committed);
    scope.parent!.rolledBack.push(...scope.rolledBack);
  }

  /** Runs the rollback callbacks of a scope that rolled back, newest first (they must not throw). */
  static undo(scope: ScopeCallbacks<unknown>): void {
    for (const undo of scope.rolledBack.reverse()) undo();
  }

  /** Runs the commit callbacks of the outermost transaction, once committed. */
  static commit(scope: ScopeCallbacks<unknown>): void {
    for (const callback of scope.committed) callback();
  }
}

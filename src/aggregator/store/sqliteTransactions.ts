import type Database from 'better-sqlite3';
import type { AsyncTransactions } from './asyncStore.ts';
import { type ScopeCallbacks, TransactionContext } from './transactionContext.ts';

interface SqliteScope extends ScopeCallbacks<SqliteScope> {
  /** 0: the outermost transaction; n: the savepoint `s{n}`. */
  depth: number;
}

/**
 * Transactions of the SQLite store whose work is asynchronous: `BEGIN IMMEDIATE` … `COMMIT` on the one
 * connection, a nested call a savepoint, the open transaction found in the async context. The connection
 * holds one transaction at a time, so an outermost transaction begun while another is open waits for it.
 *
 * The work should await nothing but the store: SQLite answers at once, so the whole transaction runs in
 * one turn of the event loop, and nothing else (a read of the HTTP API, say) can see it half done.
 * Nested transactions of one transaction run one after another (as the group commit runs them).
 */
export class SqliteTransactions implements AsyncTransactions {
  private readonly context = new TransactionContext<SqliteScope>();
  /** The outermost transaction open now. */
  private open: Promise<unknown> | undefined;

  constructor(private readonly db: Database.Database) {}

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const parent = this.context.current();
    if (parent) return this.savepoint(parent, work);
    while (this.open) await this.open.catch(() => {});
    const running = this.outermost(work);
    this.open = running;
    try {
      return await running;
    } finally {
      if (this.open === running) this.open = undefined;
    }
  }

  afterCommit(callback: () => void): void {
    this.context.afterCommit(callback);
  }

  onRollback(callback: () => void): void {
    this.context.onRollback(callback);
  }

  private async outermost<T>(work: () => Promise<T>): Promise<T> {
    const scope: SqliteScope = { committed: [], rolledBack: [], parent: undefined, depth: 0 };
    this.db.exec('BEGIN IMMEDIATE');
    let result: T;
    try {
      result = await this.context.run(scope, work);
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      TransactionContext.undo(scope);
      throw error;
    }
    TransactionContext.commit(scope);
    return result;
  }

  private async savepoint<T>(parent: SqliteScope, work: () => Promise<T>): Promise<T> {
    const scope: SqliteScope = { committed: [], rolledBack: [], parent, depth: parent.depth + 1 };
    const name = `s${scope.depth}`;
    this.db.exec(`SAVEPOINT ${name}`);
    let result: T;
    try {
      result = await this.context.run(scope, work);
      this.db.exec(`RELEASE ${name}`);
    } catch (error) {
      if (this.db.inTransaction) this.db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
      TransactionContext.undo(scope);
      throw error;
    }
    TransactionContext.release(scope);
    return result;
  }
}

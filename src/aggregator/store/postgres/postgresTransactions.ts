import type { AsyncTransactions } from '../asyncStore.ts';
import { LeaseLostError } from '../engineLeases.ts';
import { TransactionContext } from '../transactionContext.ts';
import { isConnectionLoss } from './connectionLoss.ts';
import { IngestBatch, StreamMovedError } from './ingestBatch.ts';
import type { LeaseTokens } from './leaseTokens.ts';
import type { PostgresAvailability } from './postgresAvailability.ts';
import type { Queryable, Sql, TxSql } from './postgresConnection.ts';
import type { StreamMarks } from './streamMarks.ts';
import type { TransactionScope } from './transactionScope.ts';

/**
 * Transactions of the PostgreSQL store: `transaction(work)` opens one on a pooled connection (a savepoint
 * when one is open in this async context), runs `work`, writes what is left of its IngestBatch, and
 * commits; then its commit callbacks run, or its rollback callbacks when anything failed (the COMMIT
 * included). The batch is written before a savepoint begins and before it ends, so that a savepoint rolls
 * back exactly its own writes.
 */
export class PostgresTransactions implements AsyncTransactions {
  private readonly context = new TransactionContext<TransactionScope>();

  constructor(
    private readonly pool: Sql,
    private readonly marks: StreamMarks,
    private readonly availability: PostgresAvailability,
    /** In a fleet: the leases every batch writes under. */
    private readonly fence?: LeaseTokens,
  ) {}

  /** The open transaction of this async context, if any. */
  current(): TransactionScope | undefined {
    return this.context.current();
  }

  /** Where a read goes: the open transaction (its batch written first, so the read sees it) or the pool. */
  async reader(): Promise<Queryable> {
    const scope = this.current();
    if (!scope) return this.pool;
    await scope.batch.write(scope.sql);
    return scope.sql;
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const parent = this.current();
    return parent ? this.savepoint(parent, work) : this.outermost(work);
  }

  afterCommit(callback: () => void): void {
    this.context.afterCommit(callback);
  }

  onRollback(callback: () => void): void {
    this.context.onRollback(callback);
  }

  private async outermost<T>(work: () => Promise<T>): Promise<T> {
    let scope: TransactionScope | undefined;
    let result: T;
    try {
      result = (await this.pool.begin(async (sql) => {
        scope = newScope(sql as TxSql, new IngestBatch(this.fence), undefined);
        const value = await this.context.run(scope, work);
        await scope.batch.write(scope.sql);
        return value;
      })) as T;
    } catch (error) {
      if (error instanceof StreamMovedError) this.marks.forget(error.streams);
      if (error instanceof LeaseLostError) this.fence?.lost(error.engineIds);
      if (isConnectionLoss(error)) {
        // Whether it committed is unknown: the marks are read again from what the server holds.
        this.marks.forgetAll();
        this.availability.lost(error);
      }
      if (scope) TransactionContext.undo(scope);
      throw error;
    }
    this.marks.commit(scope!);
    TransactionContext.commit(scope!);
    return result;
  }

  private async savepoint<T>(parent: TransactionScope, work: () => Promise<T>): Promise<T> {
    await parent.batch.write(parent.sql);
    let scope: TransactionScope | undefined;
    let result: T;
    try {
      result = (await parent.sql.savepoint(async (sql) => {
        scope = newScope(sql as TxSql, parent.batch, parent);
        const value = await this.context.run(scope, work);
        await scope.batch.write(scope.sql);
        return value;
      })) as T;
    } catch (error) {
      parent.batch.clear();
      if (scope) TransactionContext.undo(scope);
      throw error;
    }
    this.marks.release(scope!);
    TransactionContext.release(scope!);
    return result;
  }
}

function newScope(sql: TxSql, batch: IngestBatch, parent: TransactionScope | undefined): TransactionScope {
  return { sql, batch, committed: [], rolledBack: [], parent };
}

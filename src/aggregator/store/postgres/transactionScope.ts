import type { ScopeCallbacks } from '../transactionContext.ts';
import type { IngestBatch } from './ingestBatch.ts';
import type { TxSql } from './postgresConnection.ts';

/**
 * One open transaction of the PostgreSQL store (or a savepoint in one): the connection its statements go
 * to, the records written in it and not yet sent (the outermost transaction's IngestBatch, shared by its
 * savepoints), and what waits for its outcome.
 */
export interface TransactionScope extends ScopeCallbacks<TransactionScope> {
  sql: TxSql;
  batch: IngestBatch;
}

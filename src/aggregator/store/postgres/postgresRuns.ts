import type { AsyncRunStore } from '../asyncStore.ts';
import { type RunQuery, type RunRow, runFromRow, type StoredRun } from '../runStore.ts';
import { query } from './postgresConnection.ts';
import type { PostgresTransactions } from './postgresTransactions.ts';

/** The runs table of the PostgreSQL store (see postgresSchema.ts). */
export class PostgresRuns implements AsyncRunStore {
  constructor(private readonly transactions: PostgresTransactions) {}

  /**
   * In a transaction the run joins its batch (written with the records, at commit or before a read):
   * the promise resolves at once, and a failure to write it fails the transaction. Outside one it is
   * a transaction of its own.
   */
  saveRun(run: StoredRun): Promise<void> {
    const scope = this.transactions.current();
    if (scope) {
      scope.batch.saveRun(run);
      return Promise.resolve();
    }
    return this.transactions.transaction(() => this.saveRun(run));
  }

  async runs(q: RunQuery = {}): Promise<StoredRun[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (value: unknown) => `$${args.push(value)}`;
    if (q.engineId !== undefined) where.push(`engine_id = ${arg(q.engineId)}`);
    if (q.epoch !== undefined) where.push(`epoch = ${arg(q.epoch)}`);
    if (q.states !== undefined) where.push(`state = ANY(${arg(q.states)}::text[])`);
    const text = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_at DESC, id LIMIT ${arg(q.limit ?? null)}`;
    return (await query<RunRow>(await this.transactions.reader(), text, args)).map(runFromRow);
  }

  async run(runId: string, engineId?: string): Promise<StoredRun | undefined> {
    const sql = await this.transactions.reader();
    const [row] =
      engineId === undefined
        ? await query<RunRow>(sql, 'SELECT * FROM runs WHERE id = $1 ORDER BY started_at DESC LIMIT 1', [
            runId,
          ])
        : await query<RunRow>(sql, 'SELECT * FROM runs WHERE engine_id = $1 AND id = $2', [engineId, runId]);
    return row ? runFromRow(row) : undefined;
  }
}

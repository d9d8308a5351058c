import type { AsyncRunStore } from '../asyncStore.ts';
import type { RunQuery, StoredRun } from '../runStore.ts';
import { query } from './postgresConnection.ts';
import type { PostgresTransactions } from './postgresTransactions.ts';

interface RunRow {
  engine_id: string;
  id: string;
  epoch: string;
  state: StoredRun['state'];
  started_at: number;
  ended_at: number | null;
  reason: string | null;
  method: string | null;
  phase: string;
  start_seq: number;
  end_seq: number | null;
  since: number;
}

const UPSERT_RUN = `
  INSERT INTO runs (engine_id, id, epoch, state, started_at, ended_at, reason, method, phase, start_seq,
    end_seq, since)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
  ON CONFLICT (engine_id, id) DO UPDATE SET epoch = $3, state = $4, started_at = $5, ended_at = $6,
    reason = $7, method = $8, phase = $9, start_seq = $10, end_seq = $11, since = $12`;

/** The runs table of the PostgreSQL store (see postgresSchema.ts). */
export class PostgresRuns implements AsyncRunStore {
  constructor(private readonly transactions: PostgresTransactions) {}

  async saveRun(run: StoredRun): Promise<void> {
    await query(await this.transactions.reader(), UPSERT_RUN, [
      run.engineId,
      run.id,
      run.epoch,
      run.state,
      run.startedAt,
      run.endedAt,
      run.reason,
      run.method,
      run.phase,
      run.startSeq,
      run.endSeq,
      run.since,
    ]);
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

function runFromRow(row: RunRow): StoredRun {
  return {
    id: row.id,
    engineId: row.engine_id,
    epoch: row.epoch,
    state: row.state,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    reason: row.reason,
    method: row.method,
    phase: row.phase,
    startSeq: row.start_seq,
    endSeq: row.end_seq,
    since: row.since,
  };
}

import type Database from 'better-sqlite3';
import { type RunQuery, type RunRow, type RunStore, runFromRow, type StoredRun } from './runStore.ts';

/** The runs table of the SQLite store (see sqliteSchema.ts). */
export class SqliteRuns implements RunStore {
  private readonly upsertRun: Database.Statement<[RunRow]>;
  private readonly selectRunById: Database.Statement<[string], RunRow>;
  private readonly selectRun: Database.Statement<[string, string], RunRow>;

  constructor(private readonly db: Database.Database) {
    this.upsertRun = db.prepare(
      `INSERT OR REPLACE INTO runs (engine_id, id, epoch, state, started_at, ended_at, reason, method, phase,
         start_seq, end_seq, since)
       VALUES (@engine_id, @id, @epoch, @state, @started_at, @ended_at, @reason, @method, @phase, @start_seq,
         @end_seq, @since)`,
    );
    this.selectRunById = db.prepare('SELECT * FROM runs WHERE id = ? ORDER BY started_at DESC LIMIT 1');
    this.selectRun = db.prepare('SELECT * FROM runs WHERE engine_id = ? AND id = ?');
  }

  saveRun(run: StoredRun): void {
    this.upsertRun.run({
      engine_id: run.engineId,
      id: run.id,
      epoch: run.epoch,
      state: run.state,
      started_at: run.startedAt,
      ended_at: run.endedAt,
      reason: run.reason,
      method: run.method,
      phase: run.phase,
      start_seq: run.startSeq,
      end_seq: run.endSeq,
      since: run.since,
    });
  }

  runs(query: RunQuery = {}): StoredRun[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (query.engineId !== undefined) {
      where.push('engine_id = ?');
      args.push(query.engineId);
    }
    if (query.epoch !== undefined) {
      where.push('epoch = ?');
      args.push(query.epoch);
    }
    if (query.states !== undefined) {
      where.push(`state IN (${query.states.map(() => '?').join(',') || "''"})`);
      args.push(...query.states);
    }
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_at DESC, id LIMIT ?`;
    args.push(query.limit ?? -1);
    return (this.db.prepare(sql).all(...args) as RunRow[]).map(runFromRow);
  }

  run(runId: string, engineId?: string): StoredRun | undefined {
    const row = engineId === undefined ? this.selectRunById.get(runId) : this.selectRun.get(engineId, runId);
    return row ? runFromRow(row) : undefined;
  }
}

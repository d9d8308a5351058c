import { LeaseLostError } from '../engineLeases.ts';
import { query, type TxSql } from './postgresConnection.ts';

/**
 * Takes a share lock on each lease the batch writes under (so that no takeover commits before this
 * transaction does) and answers those still held: this holder, this epoch, not expired in database time.
 */
const FENCE = `
  SELECT l.engine_id FROM leases l
  JOIN unnest($1::text[], $2::int8[]) AS f(engine_id, epoch) ON l.engine_id = f.engine_id AND l.epoch = f.epoch
  WHERE l.holder = $3 AND l.expires_at > clock_timestamp()
  FOR SHARE OF l`;

/**
 * The leases this node holds (engine → fencing epoch), shared by the leases (which take and give them up)
 * and every ingest batch (which writes only under them). One per store opened for a fleet.
 */
export class LeaseTokens {
  private readonly tokens = new Map<string, number>();
  private readonly listeners: Array<(engineIds: string[]) => void> = [];

  constructor(
    /** This node's run (node id and a random instance): whose leases they are. */
    readonly holder: string,
  ) {}

  get(engineId: string): number | undefined {
    return this.tokens.get(engineId);
  }

  set(engineId: string, epoch: number | undefined): void {
    if (epoch === undefined) this.tokens.delete(engineId);
    else this.tokens.set(engineId, epoch);
  }

  engines(): string[] {
    return [...this.tokens.keys()];
  }

  entries(): Array<[string, number]> {
    return [...this.tokens];
  }

  forget(engineIds: readonly string[]): void {
    for (const id of engineIds) this.tokens.delete(id);
  }

  onLost(listener: (engineIds: string[]) => void): void {
    this.listeners.push(listener);
  }

  /** Leases were found lost in a transaction: forgotten here, and every listener told. */
  lost(engineIds: readonly string[]): void {
    this.forget(engineIds);
    for (const listener of this.listeners) listener([...engineIds]);
  }

  /**
   * The fence of a batch that writes records of `engineIds`: throws LeaseLostError at once for an engine
   * not held, else answers the statement to send with the batch (pipelined: no round trip of its own) and
   * the check of its rows.
   */
  fence(
    sql: TxSql,
    engineIds: readonly string[],
  ): { statement: Promise<Array<{ engine_id: string }>>; check(rows: Array<{ engine_id: string }>): void } {
    const unheld = engineIds.filter((id) => !this.tokens.has(id));
    if (unheld.length > 0) throw new LeaseLostError(unheld);
    const statement = query<{ engine_id: string }>(sql, FENCE, [
      engineIds,
      engineIds.map((id) => this.tokens.get(id)!),
      this.holder,
    ]);
    return {
      statement,
      check: (rows) => {
        if (rows.length === engineIds.length) return;
        const held = new Set(rows.map((row) => row.engine_id));
        throw new LeaseLostError(engineIds.filter((id) => !held.has(id)));
      },
    };
  }
}

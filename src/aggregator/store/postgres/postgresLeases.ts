import { type EngineLeases, type LeaseGrant, LeaseHeldError } from '../engineLeases.ts';
import type { LeaseTokens } from './leaseTokens.ts';
import { type Queryable, query, type Sql } from './postgresConnection.ts';
import type { PostgresTransactions } from './postgresTransactions.ts';

/** A lease's end, `$n` ms from now in database time. */
const leaseEnd = (n: number) => `clock_timestamp() + make_interval(secs => $${n}::float8 / 1000)`;

/**
 * Takes the lease when it is this holder's, expired or released; the epoch grows unless this holder's
 * lease is still running. No row: another holder's lease runs.
 */
const ACQUIRE = `
  WITH before AS (SELECT holder, node FROM leases WHERE engine_id = $1)
  INSERT INTO leases AS l (engine_id, node, holder, epoch, expires_at) VALUES ($1, $2, $3, 1, ${leaseEnd(4)})
  ON CONFLICT (engine_id) DO UPDATE SET node = EXCLUDED.node, holder = EXCLUDED.holder,
    epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.epoch
      ELSE l.epoch + 1 END,
    expires_at = EXCLUDED.expires_at, acquired_at = clock_timestamp()
  WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp()
  RETURNING l.epoch, (SELECT holder FROM before) AS previous_holder, (SELECT node FROM before) AS previous_node`;

const HOLDER_OF = `
  SELECT node, GREATEST(0, ceil(extract(epoch FROM expires_at - clock_timestamp()) * 1000))::int8 AS remaining_ms
  FROM leases WHERE engine_id = $1`;

/** Extends the leases still held (this holder, the epoch taken, not expired); answers those. */
const RENEW = `
  UPDATE leases l SET expires_at = ${leaseEnd(4)}
  FROM unnest($1::text[], $2::int8[]) AS h(engine_id, epoch)
  WHERE l.engine_id = h.engine_id AND l.epoch = h.epoch AND l.holder = $3 AND l.expires_at > clock_timestamp()
  RETURNING l.engine_id`;

const RELEASE = `
  UPDATE leases SET expires_at = clock_timestamp()
  WHERE engine_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()`;

const OWNERS = 'SELECT engine_id, node FROM leases WHERE expires_at > clock_timestamp()';

/** How a store joins a fleet: the node's id and how long its leases last. */
export interface FleetStoreOptions {
  /** This node's name in the fleet (every node needs its own). */
  nodeId: string;
  /** How long a lease lasts without renewal (ms). */
  leaseMs: number;
}

/** The leases of a PostgreSQL store opened for a fleet (see EngineLeases, and the `leases` table). */
export class PostgresLeases implements EngineLeases {
  readonly nodeId: string;
  readonly leaseMs: number;

  constructor(
    private readonly pool: Sql,
    private readonly transactions: PostgresTransactions,
    private readonly tokens: LeaseTokens,
    options: FleetStoreOptions,
  ) {
    this.nodeId = options.nodeId;
    this.leaseMs = options.leaseMs;
  }

  acquire(engineId: string): Promise<LeaseGrant> {
    return this.transactions.transaction(async () => {
      const scope = this.transactions.current()!;
      const [row] = await query<{
        epoch: number;
        previous_holder: string | null;
        previous_node: string | null;
      }>(scope.sql, ACQUIRE, [engineId, this.nodeId, this.tokens.holder, this.leaseMs]);
      if (!row) {
        const [held] = await query<{ node: string; remaining_ms: number }>(scope.sql, HOLDER_OF, [engineId]);
        throw new LeaseHeldError(
          engineId,
          held?.node ?? 'another node',
          Math.max(1, held?.remaining_ms ?? 1),
        );
      }
      const before = this.tokens.get(engineId);
      this.tokens.set(engineId, row.epoch);
      // Memory follows the store: a transaction that does not commit did not take the lease.
      this.transactions.onRollback(() => this.tokens.set(engineId, before));
      const elsewhere = row.previous_holder !== null && row.previous_holder !== this.tokens.holder;
      return { epoch: row.epoch, from: elsewhere ? row.previous_node : null };
    });
  }

  async release(engineId: string): Promise<void> {
    const epoch = this.tokens.get(engineId);
    if (epoch === undefined) return;
    this.tokens.set(engineId, undefined);
    await query(this.reader(), RELEASE, [engineId, this.tokens.holder, epoch]);
  }

  async renew(): Promise<{ lost: string[] }> {
    const held = this.tokens.entries();
    if (held.length === 0) return { lost: [] };
    const rows = await query<{ engine_id: string }>(this.reader(), RENEW, [
      held.map(([id]) => id),
      held.map(([, epoch]) => epoch),
      this.tokens.holder,
      this.leaseMs,
    ]);
    const renewed = new Set(rows.map((row) => row.engine_id));
    // Only what was held when the renewal was sent, and still is under the same epoch, counts as lost.
    const lost = held
      .filter(([id, epoch]) => !renewed.has(id) && this.tokens.get(id) === epoch)
      .map(([id]) => id);
    this.tokens.forget(lost);
    return { lost };
  }

  held(): string[] {
    return this.tokens.engines();
  }

  forget(engineIds: readonly string[]): void {
    this.tokens.forget(engineIds);
  }

  onLost(listener: (engineIds: string[]) => void): void {
    this.tokens.onLost(listener);
  }

  async owners(): Promise<Map<string, string>> {
    const rows = await query<{ engine_id: string; node: string }>(this.pool, OWNERS);
    return new Map(rows.map((row) => [row.engine_id, row.node]));
  }

  /** The open transaction's connection, or the pool. */
  private reader(): Queryable {
    return this.transactions.current()?.sql ?? this.pool;
  }
}

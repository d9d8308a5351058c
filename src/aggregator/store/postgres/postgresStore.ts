import { randomUUID } from 'node:crypto';
import type { Item } from '../../../protocol/records.ts';
import type { AsyncStore } from '../asyncStore.ts';
import type { EngineLeases } from '../engineLeases.ts';
import type { FleetRegistry } from '../fleetRegistry.ts';
import type { EngineSummary, IngestResult, RecordQuery, StoredGap, StoredRecord } from '../recordStore.ts';
import type { RunQuery, StoredRun } from '../runStore.ts';
import type { StoreAvailability } from '../storeAvailability.ts';
import { LeaseTokens } from './leaseTokens.ts';
import { PostgresAvailability } from './postgresAvailability.ts';
import {
  connectPostgres,
  describePostgresUrl,
  type PostgresConnectionOptions,
  query,
  type Sql,
  type TxSql,
} from './postgresConnection.ts';
import { PostgresFleet } from './postgresFleet.ts';
import { type FleetStoreOptions, PostgresLeases } from './postgresLeases.ts';
import { PostgresRecords } from './postgresRecords.ts';
import { PostgresRuns } from './postgresRuns.ts';
import { migrateSchema } from './postgresSchema.ts';
import { PostgresTransactions } from './postgresTransactions.ts';
import { StreamMarks } from './streamMarks.ts';

/**
 * The PostgreSQL store (postgres.js): the same tables and promises as the SQLite store, for a lab whose
 * records belong in the database its other tools already query. `PostgresStore.open(url)` connects,
 * applies the schema's migrations (refusing a database of a newer engine-link, or one that is not
 * engine-link's) and answers the store. The frames of a transaction are written together (IngestBatch);
 * each stream's high-water mark moves by compare-and-set, so that no record is ever stored twice, even
 * with two writers.
 */
export class PostgresStore implements AsyncStore {
  readonly url: string;
  private readonly pool: Sql;
  private readonly transactions: PostgresTransactions;
  private readonly recordTables: PostgresRecords;
  private readonly runTables: PostgresRuns;
  /** Whether PostgreSQL answers: lost with a connection, found again by asking on a schedule. */
  readonly availability: StoreAvailability;
  private readonly reconnect: PostgresAvailability;
  /**
   * In a fleet: which engines this node owns (leases with fencing epochs). Absent: one aggregator alone.
   *
   * @internal
   */
  readonly leases: EngineLeases | undefined;
  /**
   * In a fleet: the nodes' shared directory.
   *
   * @internal
   */
  readonly fleet: FleetRegistry | undefined;
  private closed = false;

  private constructor(url: string, pool: Sql, fleet: FleetStoreOptions | undefined) {
    this.url = url;
    this.pool = pool;
    const marks = new StreamMarks();
    this.reconnect = new PostgresAvailability({ probe: () => pool.unsafe('SELECT 1') });
    this.availability = this.reconnect;
    const tokens = fleet && new LeaseTokens(`${fleet.nodeId}/${randomUUID().slice(0, 8)}`);
    this.transactions = new PostgresTransactions(pool, marks, this.reconnect, tokens);
    this.leases = fleet && new PostgresLeases(pool, this.transactions, tokens!, fleet);
    this.fleet = fleet && new PostgresFleet(pool, fleet.nodeId, tokens!.holder);
    this.recordTables = new PostgresRecords(pool, this.transactions, marks);
    this.runTables = new PostgresRuns(this.transactions);
  }

  /**
   * Connects to `url` and brings its schema up to date; refuses (and disconnects) with a clear error.
   * `fleet`: this store is one node's of a fleet (leases; a session idle in a transaction longer than a
   * lease, a node paused say, is ended by the server, so that its locks never hold a takeover up).
   */
  static async open(
    url: string,
    options: PostgresConnectionOptions & { fleet?: FleetStoreOptions } = {},
  ): Promise<PostgresStore> {
    const { fleet, ...connection } = options;
    const pool = connectPostgres(url, {
      ...connection,
      ...(fleet ? { idleInTransactionTimeoutMs: fleet.leaseMs } : {}),
    });
    try {
      await pool.begin((sql) =>
        migrateSchema(
          {
            query: (text, params) => query(sql as TxSql, text, params),
            exec: async (text) => {
              await (sql as TxSql).unsafe(text);
            },
          },
          describePostgresUrl(url),
        ),
      );
    } catch (error) {
      await pool.end({ timeout: 1 });
      throw error;
    }
    return new PostgresStore(url, pool, fleet);
  }

  ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): Promise<IngestResult> {
    return this.recordTables.ingest(engineId, epoch, from, items);
  }

  highWaterMark(engineId: string, epoch: string): Promise<number> {
    return this.recordTables.highWaterMark(engineId, epoch);
  }

  records(engineId: string, q?: RecordQuery): Promise<StoredRecord[]> {
    return this.recordTables.records(engineId, q);
  }

  latestStates(engineId: string, q?: { epoch?: string; afterSeq?: number }): Promise<StoredRecord[]> {
    return this.recordTables.latestStates(engineId, q);
  }

  gaps(engineId: string): Promise<StoredGap[]> {
    return this.recordTables.gaps(engineId);
  }

  countRecords(engineId: string, epoch: string, fromSeq: number, toSeq: number): Promise<number> {
    return this.recordTables.countRecords(engineId, epoch, fromSeq, toSeq);
  }

  engineSummaries(): Promise<EngineSummary[]> {
    return this.recordTables.engineSummaries();
  }

  /** One engine's line (a fleet node taking an engine over reads it). */
  async engineSummary(engineId: string): Promise<EngineSummary | undefined> {
    return (await this.recordTables.engineSummaries(engineId))[0];
  }

  touchEngine(engineId: string, epoch: string, at: number): Promise<void> {
    return this.recordTables.touchEngine(engineId, epoch, at);
  }

  saveRun(run: StoredRun): Promise<void> {
    return this.runTables.saveRun(run);
  }

  runs(q?: RunQuery): Promise<StoredRun[]> {
    return this.runTables.runs(q);
  }

  run(runId: string, engineId?: string): Promise<StoredRun | undefined> {
    return this.runTables.run(runId, engineId);
  }

  transaction<T>(work: () => Promise<T>): Promise<T> {
    return this.transactions.transaction(work);
  }

  afterCommit(callback: () => void): void {
    this.transactions.afterCommit(callback);
  }

  onRollback(callback: () => void): void {
    this.transactions.onRollback(callback);
  }

  /** Waits for the open queries (5 s at most), then closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reconnect.close();
    await this.pool.end({ timeout: 5 });
  }
}

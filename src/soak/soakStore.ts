import { join } from 'node:path';
import postgres from 'postgres';
import { isPostgresUrl } from '../aggregator/store/postgres/postgresConnection.ts';
import { PostgresCluster } from '../faults/postgresCluster.ts';

/** The soak aggregator's store: what its `--db` names, and the PostgreSQL server the soak runs, if any. */
export interface SoakStore {
  /** A SQLite file path or a postgres:// URL. */
  db: string;
  /** A throwaway PostgreSQL server of the soak's own: the one it SIGKILLs as a fault. */
  cluster: PostgresCluster | undefined;
  close(): void;
}

/**
 * `db` as the soak takes it: none, a SQLite file in the soak's directory; `postgres`, a throwaway
 * PostgreSQL server of its own (initdb in the soak's directory, a free loopback port), killed and
 * restarted as one more fault; a postgres:// URL, that database (not killed: the soak does not own it).
 */
export async function openSoakStore(db: string | undefined, dir: string): Promise<SoakStore> {
  if (db === undefined) return { db: join(dir, 'aggregator.db'), cluster: undefined, close: () => {} };
  if (isPostgresUrl(db)) return { db, cluster: undefined, close: () => {} };
  if (db !== 'postgres') throw new Error(`--db: "${db}" is neither postgres nor a postgres:// URL`);
  const cluster = await PostgresCluster.create();
  try {
    const admin = postgres(cluster.url(), { max: 1, onnotice: () => {} });
    await admin.unsafe('CREATE DATABASE engine_link_soak');
    await admin.end();
  } catch (error) {
    cluster.destroy();
    throw error;
  }
  return { db: cluster.url('engine_link_soak'), cluster, close: () => cluster.destroy() };
}

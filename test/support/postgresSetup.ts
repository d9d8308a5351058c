import type { TestProject } from 'vitest/node';
import { PostgresCluster } from '../../src/faults/postgresCluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The admin URL of the run's throwaway PostgreSQL cluster (see test/support/postgres.ts). */
    postgresAdminUrl: string;
    /** Its data directory and port, for tests that kill and restart it (see test/support/postgres.ts). */
    postgresCluster: { dir: string; port: number };
  }
}

/**
 * vitest globalSetup: one throwaway PostgreSQL cluster for the whole run (initdb in a temporary directory,
 * on a free loopback port; as root, run as the postgres user), stopped and removed at the end. Each test
 * file takes a database of its own in it (test/support/postgres.ts). fsync is off: the tests kill
 * PostgreSQL's processes, never the machine, and the OS keeps what they wrote.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const cluster = await PostgresCluster.create({ settings: { fsync: 'off', max_connections: 300 } });
  project.provide('postgresAdminUrl', cluster.url());
  project.provide('postgresCluster', { dir: cluster.dir, port: cluster.port });
  return () => cluster.destroy();
}

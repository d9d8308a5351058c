import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/aggregator/store/postgres/postgresStore.ts';
import { freePort } from '../../src/faults/postgresCluster.ts';
import { cliProcesses, exitWithin } from '../support/childProcess.ts';
import { freshDatabase } from '../support/postgres.ts';

/**
 * `--db postgres://…` selects the PostgreSQL store, each program in its own process: a URL that names no
 * database, or another scheme, is a usage error (2); a database it cannot use (unreachable, or of a newer
 * schema) a start-up failure (1), in one line that names the database without its password.
 */
const processes = cliProcesses();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function oneLine(args: string[], status: number, pattern: RegExp): Promise<string> {
  const p = processes.start(args);
  expect(await exitWithin(p), p.stderr()).toBe(status);
  const stderr = p.stderr();
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at |Error:/);
  return stderr;
}

describe('aggregator --db postgres://', () => {
  it('a URL without a database, or of another scheme, is a usage error naming --db', async () => {
    await oneLine(['aggregator', '--db', 'postgres://user:hunter2@localhost'], 2, /--db.*names no database/);
    await oneLine(
      ['aggregator', '--db', 'mysql://user@localhost/db'],
      2,
      /--db.*mysql: URLs are not understood/,
    );
  });

  it('the fleet options need PostgreSQL: --node-id with a SQLite file is a usage error (2)', async () => {
    await oneLine(
      ['aggregator', '--db', '/tmp/engine-link-never-created.db', '--node-id', 'n1'],
      2,
      /--node-id needs a PostgreSQL --db .*a SQLite store is one aggregator's alone/,
    );
    await oneLine(
      ['aggregator', '--db', 'postgres://u@127.0.0.1/db', '--lease', '1000', '--lease-renew', '1500'],
      2,
      /--lease-renew \(1500 ms\) must be shorter than --lease \(1000 ms\)/,
    );
  });

  it('an unreachable server: one line, status 1, the password not repeated', async () => {
    const port = await freePort();
    const stderr = await oneLine(
      ['aggregator', '--port', '0', '--db', `postgres://postgres:hunter2@127.0.0.1:${port}/nothing`],
      1,
      /cannot use the PostgreSQL database/,
    );
    expect(stderr).not.toContain('hunter2');
  });

  it('a database of a newer schema is refused, unchanged', async () => {
    const url = await freshDatabase('newer');
    await (await PostgresStore.open(url)).close();
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    cleanups.push(() => admin.end());
    await admin`UPDATE engine_link_schema SET version = version + 1`;
    const before = [...(await admin`SELECT version FROM engine_link_schema`)];
    await oneLine(['aggregator', '--port', '0', '--db', url], 1, /newer than this engine-link supports/);
    expect([...(await admin`SELECT version FROM engine_link_schema`)]).toEqual(before);
  });

  it('a database it can use: listening, /healthz says the store is available, SIGTERM exits 0', async () => {
    const url = await freshDatabase('cli');
    const p = processes.start(['aggregator', '--port', '0', '--db', url]);
    const line = await p.waitForLine(/listening on/);
    const base = /listening on (\S+)/.exec(line)![1]!;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, store: 'available' });
    p.child.kill('SIGTERM');
    expect(await exitWithin(p)).toBe(0);
  });
});

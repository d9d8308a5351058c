import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsyncSqliteStore } from '../../../src/aggregator/store/asyncSqliteStore.ts';
import type { AsyncStore } from '../../../src/aggregator/store/asyncStore.ts';
import { PostgresStore } from '../../../src/aggregator/store/postgres/postgresStore.ts';
import { SqliteStore } from '../../../src/aggregator/store/sqliteStore.ts';
import { freshDatabase } from '../../support/postgres.ts';

/**
 * One store backend for the conformance suite: `open()` a fresh empty store (each test its own file or
 * database), `reopen()` the same one again once it is closed, `cleanup()` after the test.
 */
export interface StoreBackend {
  name: string;
  open(): Promise<AsyncStore>;
  reopen(): Promise<AsyncStore>;
  /** Where the store opened last is: what `--db` names (a file path or a postgres:// URL). */
  location(): string;
  cleanup(): void;
}

export function sqliteBackend(): StoreBackend {
  let dir: string | undefined;
  const path = () => join(dir!, 'nested', 'aggregator.db');
  return {
    name: 'SQLite',
    open: async () => {
      dir = mkdtempSync(join(tmpdir(), 'engine-link-store-'));
      return new AsyncSqliteStore(new SqliteStore(path()));
    },
    reopen: async () => new AsyncSqliteStore(new SqliteStore(path())),
    location: () => path(),
    cleanup: () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function postgresBackend(): StoreBackend {
  let url: string | undefined;
  return {
    name: 'PostgreSQL',
    open: async () => {
      url = await freshDatabase('store');
      return PostgresStore.open(url);
    },
    reopen: () => PostgresStore.open(url!),
    location: () => url!,
    cleanup: () => {},
  };
}

/** Both backends, for `describe.each`. */
export const STORE_BACKENDS: ReadonlyArray<[string, () => StoreBackend]> = [
  ['SQLite', sqliteBackend],
  ['PostgreSQL', postgresBackend],
];

/** What `call` threw or rejected with (undefined: it did neither). */
export async function failureOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return undefined;
}

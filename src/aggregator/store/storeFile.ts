import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION, STORE_APPLICATION_ID, STORE_TABLES } from './sqliteSchema.ts';

/** The store could not be opened; the message names the file and says why, in words a user can act on. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
}

export function isInMemory(path: string): boolean {
  return path === ':memory:' || path.startsWith('file::memory:');
}

function sqliteCode(error: unknown): string {
  return (error as { code?: string }).code ?? '';
}

/** Why SQLite or the file system refused, for a person. */
function explain(path: string, error: unknown): string {
  const code = sqliteCode(error);
  const message = (error as Error).message;
  if (code === 'SQLITE_NOTADB')
    return `${path} is not a SQLite database (${message}); give the aggregator a file of its own`;
  if (code.startsWith('SQLITE_READONLY'))
    return (
      `the store ${path} is read-only (${message}): the aggregator writes every record it acknowledges ` +
      'there; make the file and its directory writable by the user it runs as'
    );
  if (code.startsWith('SQLITE_CANTOPEN') || code === 'EACCES' || code === 'EPERM')
    return (
      `cannot open the store ${path} (${message}): the aggregator needs to read and write it, and to ` +
      `create ${path}-wal and ${path}-shm beside it; check the permissions of the file and its directory`
    );
  if (code === 'SQLITE_BUSY') return `the store ${path} is busy (${message})`;
  return `cannot open the store ${path}: ${message}`;
}

/**
 * Checks, before anything is written, that the file is an engine-link store (or a new, empty database):
 * another application's SQLite file is refused untouched.
 */
function checkOwnership(db: Database.Database, path: string): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const tables = (
    db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as Array<{
      name: string;
    }>
  ).map((row) => row.name);
  const foreign = tables.filter((name) => !STORE_TABLES.has(name));
  if (applicationId !== 0 && applicationId !== STORE_APPLICATION_ID)
    throw new StoreOpenError(
      `${path} belongs to another application (SQLite application_id ${applicationId}); it was left untouched: give the aggregator a file of its own`,
    );
  if (version > SCHEMA_VERSION)
    throw new StoreOpenError(
      `store ${path} has schema version ${version}, newer than this engine-link supports (${SCHEMA_VERSION})`,
    );
  if (applicationId === 0 && foreign.length > 0)
    throw new StoreOpenError(
      `${path} is another application's SQLite database (tables ${foreign.slice(0, 5).join(', ')}${
        foreign.length > 5 ? ', ...' : ''
      }); it was left untouched: give the aggregator a file of its own`,
    );
}

/** A write that is rolled back: a read-only file or directory fails it now rather than at the first frame. */
function checkWritable(db: Database.Database): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    db.pragma(`user_version = ${version}`);
  } finally {
    db.exec('ROLLBACK');
  }
}

function createParent(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw new StoreOpenError(`cannot create the directory of the store ${path}: ${(error as Error).message}`);
  }
}

/**
 * Takes the store for this process: an exclusive lock on `<path>.lock` (a SQLite file of its own, locked
 * through SQLite), held while the connection is open and released by the operating system when the
 * process dies, so a second aggregator on the same store is refused and a killed one leaves no stale lock.
 */
export function lockStore(path: string): Database.Database {
  const lockPath = `${path}.lock`;
  createParent(path);
  let lock: Database.Database | undefined;
  try {
    lock = new Database(lockPath);
    lock.pragma('busy_timeout = 0');
    lock.exec('BEGIN EXCLUSIVE');
    return lock;
  } catch (error) {
    lock?.close();
    if (sqliteCode(error) === 'SQLITE_BUSY')
      throw new StoreOpenError(
        `the store ${path} is in use by another aggregator (${lockPath} is locked): two aggregators must never share a store`,
      );
    throw new StoreOpenError(explain(lockPath, error));
  }
}

/**
 * Opens the store's database at `path` (creating it and its parent directories when missing), refusing
 * with a `StoreOpenError` that names the file: a directory, a file that is not SQLite, another
 * application's database (left untouched), a store of a newer schema, a read-only file or directory, a
 * store another aggregator holds. Returns the connection and the lock to close with it.
 */
export function openStoreFile(path: string): { db: Database.Database; lock: Database.Database | undefined } {
  const file = !isInMemory(path) && !path.startsWith('file:');
  if (file) {
    createParent(path);
    try {
      if (statSync(path).isDirectory()) throw new StoreOpenError(`${path} is a directory, not a store file`);
    } catch (error) {
      if (error instanceof StoreOpenError) throw error;
    }
  }
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (error) {
    throw new StoreOpenError(explain(path, error));
  }
  let lock: Database.Database | undefined;
  try {
    checkOwnership(db, path);
    if (file) lock = lockStore(path);
    checkWritable(db);
    return { db, lock };
  } catch (error) {
    db.close();
    lock?.close();
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(explain(path, error));
  }
}

/**
 * What is at `path`: nothing, an engine-link store (or an empty database), or something else (another
 * application's database, a file that is not SQLite). Opens the file read-only and changes nothing.
 */
export function storeAt(path: string): 'missing' | 'store' | 'foreign' {
  try {
    if (!statSync(path).isFile()) return 'foreign';
  } catch {
    return 'missing';
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    checkOwnership(db, path);
    return 'store';
  } catch {
    return 'foreign';
  } finally {
    db?.close();
  }
}

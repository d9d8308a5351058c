import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { type CliProcess, cliProcesses, exitWithin } from '../support/childProcess.ts';

/**
 * Start-up failures as users meet them, each program in its own process: the process says what is wrong
 * in one line naming the file, port or option, with no stack trace, exits (1 for a failure of the
 * surroundings, 2 for a bad command line) instead of hanging, and changes nothing it should not.
 */
const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});
const processes = cliProcesses();

/** The uid and gid of `nobody`: root ignores file permissions, a user does not. */
const NOBODY = 65_534;

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'engine-link-startup-'));
  chmodSync(dir, 0o777);
  return dir;
}

function start(args: string[], options: { uid?: number } = {}): CliProcess {
  return processes.start(args, {}, options.uid === undefined ? {} : { uid: options.uid, gid: options.uid });
}

async function expectOneLineFailure(p: CliProcess, status: number, pattern: RegExp): Promise<void> {
  expect(await exitWithin(p), p.stderr()).toBe(status);
  const stderr = p.stderr();
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at |Error:/);
}

async function busyPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as { port: number }).port;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('item 1: the aggregator and the demo exit after a start-up failure', () => {
  it('a port in use: one line, status 1, no hang, for the aggregator and the demo', async () => {
    const port = await busyPort();
    const dir = scratch();
    const aggregator = start(['aggregator', '--port', String(port), '--db', join(dir, 'a.db')]);
    const demo = start(['demo', '--port', String(port), '--db', join(dir, 'demo.db')]);
    const inUse = new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`);
    await expectOneLineFailure(aggregator, 1, inUse);
    await expectOneLineFailure(demo, 1, inUse);
  });

  it('an address that is not this machine, a certificate that is not PEM: no store is made', async () => {
    const dir = scratch();
    const notPem = join(dir, 'cert.pem');
    writeFileSync(notPem, 'this is not a certificate\n');
    const badPem = join(dir, 'bad.pem');
    writeFileSync(badPem, '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n');
    const host = start(['aggregator', '--port', '0', '--host', '192.0.2.1', '--db', join(dir, 'host.db')]);
    const cert = start([
      'aggregator',
      '--port',
      '0',
      '--cert',
      notPem,
      '--key',
      notPem,
      '--db',
      join(dir, 'c.db'),
    ]);
    const bad = start([
      'aggregator',
      '--port',
      '0',
      '--cert',
      badPem,
      '--key',
      badPem,
      '--db',
      join(dir, 'b.db'),
    ]);
    await expectOneLineFailure(
      host,
      1,
      /cannot listen on 192\.0\.2\.1:0: 192\.0\.2\.1 is not an address of this machine/,
    );
    await expectOneLineFailure(cert, 2, /--cert: .*cert\.pem is not a PEM file/);
    await expectOneLineFailure(bad, 2, /--cert\/--key: TLS cannot use .*bad\.pem/);
    expect(
      readdirSync(dir)
        .filter((name) => name.endsWith('.db'))
        .sort(),
    ).toEqual(['host.db']);
  });
});

describe('items 4, 9 and 10: the store file', () => {
  it('item 4: a read-only store is refused at start, not accepted with every hello failing after', async () => {
    const dir = scratch();
    const path = join(dir, 'store.db');
    new SqliteStore(path).close();
    chmodSync(path, 0o444);
    const p = start(['aggregator', '--port', '0', '--db', path], { uid: NOBODY });
    await expectOneLineFailure(
      p,
      1,
      new RegExp(`the store ${path} is read-only .*make the file and its directory writable`),
    );
    expect(p.lines).toEqual([]);
  });

  it('item 9: a directory, a file that is not SQLite, a directory it cannot write: one line naming the path', async () => {
    const dir = scratch();
    const notSqlite = join(dir, 'notes.txt');
    writeFileSync(notSqlite, 'these are my notes, not a database\n'.repeat(100));
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o755 });
    const onDir = start(['aggregator', '--port', '0', '--db', dir]);
    const onText = start(['aggregator', '--port', '0', '--db', notSqlite]);
    const unwritable = start(['aggregator', '--port', '0', '--db', join(locked, 'store.db')], {
      uid: NOBODY,
    });
    const below = start(['aggregator', '--port', '0', '--db', join(locked, 'sub', 'store.db')], {
      uid: NOBODY,
    });
    const logLevel = start(['aggregator', '--port', '0', '--db', join(dir, 'x.db'), '--log-level', 'bogus']);
    await expectOneLineFailure(onDir, 2, new RegExp(`--db ${dir} is a directory, not a file`));
    await expectOneLineFailure(onText, 1, new RegExp(`${notSqlite} is not a SQLite database`));
    await expectOneLineFailure(
      unwritable,
      1,
      new RegExp(`cannot open the store ${locked}/store\\.db .*permissions`),
    );
    await expectOneLineFailure(
      below,
      1,
      new RegExp(`cannot create the directory of the store ${locked}/sub/store\\.db`),
    );
    await expectOneLineFailure(
      logLevel,
      2,
      /--log-level must be one of fatal, error, warn, info, debug, trace, silent/,
    );
    expect(readFileSync(notSqlite, 'utf8')).toBe('these are my notes, not a database\n'.repeat(100));
    expect(readdirSync(locked)).toEqual([]);
  });

  it("item 10: another application's SQLite file is refused and left exactly as it was", async () => {
    const dir = scratch();
    const path = join(dir, 'inventory.db');
    const other = new Database(path);
    other.exec(
      "CREATE TABLE parts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO parts (name) VALUES ('pump')",
    );
    other.close();
    const before = sha256(path);
    const p = start(['aggregator', '--port', '0', '--db', path]);
    await expectOneLineFailure(
      p,
      1,
      new RegExp(
        `${path} is another application's SQLite database \\(tables parts\\); it was left untouched`,
      ),
    );
    expect(sha256(path)).toBe(before);
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(0);
    expect(check.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([
      { name: 'parts' },
    ]);
    check.close();
    expect(readdirSync(dir).sort()).toEqual(['inventory.db']);
    // The demo deletes its store at start: never a file that is not one.
    const demo = start(['demo', '--port', '0', '--db', path]);
    await expectOneLineFailure(demo, 2, /--db .*inventory\.db is not an engine-link store/);
    expect(sha256(path)).toBe(before);
  });
});

describe('item 12: one store per aggregator, one outbox per engine', () => {
  it('a second aggregator on the same store is refused while the first runs, and welcome once it is gone', async () => {
    const dir = scratch();
    const db = join(dir, 'shared.db');
    const first = start(['aggregator', '--port', '0', '--db', db, '--log-level', 'warn']);
    await first.waitForLine(/listening on/);
    const second = start(['aggregator', '--port', '0', '--db', db]);
    await expectOneLineFailure(second, 1, new RegExp(`the store ${db} is in use by another aggregator`));
    first.child.kill('SIGKILL');
    await first.exited;
    const third = start(['aggregator', '--port', '0', '--db', db, '--log-level', 'warn']);
    await third.waitForLine(/listening on/);
  });

  it('a durable outbox belongs to the engine that made it: another --id is refused', async () => {
    const dir = scratch();
    const outbox = join(dir, 'outbox');
    const aggregatorUrl = `ws://127.0.0.1:${await busyPort()}`;
    const common = ['--aggregator', aggregatorUrl, '--simulate', '--outbox', outbox, '--log-level', 'warn'];
    const owner = start(['engine', '--id', 'line-1', ...common, '--progress-ms', '50']);
    await owner.waitForLine(/progress/);
    owner.child.kill('SIGTERM');
    expect(await exitWithin(owner)).toBe(0);
    const impostor = start(['engine', '--id', 'line-2', ...common]);
    await expectOneLineFailure(
      impostor,
      1,
      new RegExp(`outbox ${outbox} belongs to engine line-1, not line-2`),
    );
    const again = start(['engine', '--id', 'line-1', ...common, '--progress-ms', '50']);
    await again.waitForLine(/progress/);
  });
});

describe('item 8: engine misconfiguration is caught locally, in one line', () => {
  it('a URL that is not ws:// or wss://, an outbox on a file, an invalid id', async () => {
    const dir = scratch();
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const cases = [
      [['--aggregator', 'garbage'], /--aggregator must be a URL starting with ws:\/\/ or wss:\/\//],
      [
        ['--aggregator', 'ftp://example.org'],
        /--aggregator must be a URL starting with ws:\/\/ or wss:\/\/, not ftp:\/\//,
      ],
      [['--outbox', file], /--outbox .*a-file is a file, not a directory/],
    ] as const;
    const runs = cases.map(([extra, pattern]) => ({
      p: start(['engine', '--id', 'x', '--simulate', ...extra]),
      pattern,
    }));
    const badIds = ['has spaces', 'x'.repeat(300)].map((id) => start(['engine', '--id', id, '--simulate']));
    for (const { p, pattern } of runs) await expectOneLineFailure(p, 2, pattern);
    for (const p of badIds)
      await expectOneLineFailure(p, 2, /--id must be 1 to 128 letters, digits and \. _ : -/);
  });
});

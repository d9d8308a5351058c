import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway PostgreSQL cluster for tests, the soak and the bench: `initdb` in a temporary directory,
 * `pg_ctl` on a free loopback port (its socket in the same directory), trust authentication for the
 * `postgres` superuser. As root, every server program runs as the `postgres` user (initdb refuses root)
 * through `runuser`, and the directory is that user's. `kill()` SIGKILLs the server (a fault for the soak)
 * and `start()` brings it back on the same port.
 */
export interface PostgresClusterOptions {
  /** Where the server programs are. Default: `PG_BIN`, else the newest /usr/lib/postgresql/N/bin. */
  binDir?: string;
  /** Server settings (`-c name=value`). Default: none beyond the port, the socket and loopback. */
  settings?: Readonly<Record<string, string | number>>;
}

export const POSTGRES_SUPERUSER = 'postgres';

/** The newest Debian PostgreSQL's programs (or `PG_BIN`): where initdb and pg_ctl are. */
export function postgresBinDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(
      `no PostgreSQL server programs under ${root} (install the Debian package postgresql, or set PG_BIN)`,
    );
  return join(root, versions[0]!, 'bin');
}

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Whether a process runs (a zombie, dead but not yet reaped by its parent, does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** The postgres user's uid and gid (root only). */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('running as root, PostgreSQL needs the user postgres (the Debian package creates it)');
  }
}

export class PostgresCluster {
  readonly dir: string;
  readonly port: number;
  private readonly bin: string;
  private readonly settings: Readonly<Record<string, string | number>>;
  private running = false;

  private constructor(dir: string, port: number, bin: string, settings: PostgresClusterOptions['settings']) {
    this.dir = dir;
    this.port = port;
    this.bin = bin;
    this.settings = settings ?? {};
  }

  /** Creates a cluster in a fresh temporary directory and starts it. */
  static async create(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
    const bin = options.binDir ?? postgresBinDir();
    const dir = mkdtempSync(join(tmpdir(), 'engine-link-pg-'));
    if (isRoot) {
      const { uid, gid } = postgresUser();
      chownSync(dir, uid, gid);
    }
    const cluster = new PostgresCluster(dir, await freePort(), bin, options.settings);
    try {
      cluster.run('initdb', [
        '-D',
        cluster.dataDir,
        '-A',
        'trust',
        '-U',
        POSTGRES_SUPERUSER,
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ]);
      await cluster.start();
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    return cluster;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** A connection URL for `database` (default: the `postgres` database). */
  url(database = 'postgres'): string {
    return `postgres://${POSTGRES_SUPERUSER}@127.0.0.1:${this.port}/${database}`;
  }

  /**
   * Starts the server (again, after `kill` or `stop`) and waits until it takes connections. After a
   * SIGKILL the old server's backends may hold its shared memory a moment longer: tried again for 10 s.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        this.startOnce();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  private startOnce(): void {
    const settings = Object.entries({
      port: this.port,
      unix_socket_directories: this.dir,
      listen_addresses: '127.0.0.1',
      ...this.settings,
    })
      .map(([name, value]) => `-c ${name}=${value}`)
      .join(' ');
    this.run('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      settings,
      '-w',
      'start',
    ]);
    this.running = true;
  }

  /** The server's process id (from postmaster.pid), or undefined when it is not running. */
  pid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * SIGKILLs the server (postmaster): what a crash of PostgreSQL looks like to its clients. Its backends
   * notice and exit; `start()` recovers from the WAL.
   */
  async kill(): Promise<void> {
    const pid = this.pid();
    this.running = false;
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return; // Already gone.
    }
    const deadline = Date.now() + 10_000;
    while (alive(pid)) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL (pid ${pid}) still runs 10 s after SIGKILL`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the server (fast shutdown: open sessions are ended). */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.run('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', 'stop']);
  }

  /** Stops the server (SIGKILL when a stop fails) and removes its directory. */
  destroy(): void {
    try {
      this.stop();
    } catch {
      void this.kill();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The server log so far (for a failure message). */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Runs a server program (as the postgres user when we are root); throws with its output on failure. */
  private run(program: string, args: readonly string[]): void {
    const path = join(this.bin, program);
    const [command, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    const result = spawnSync(command, argv, { encoding: 'utf8', cwd: this.dir });
    if (result.status !== 0)
      throw new Error(
        `${program} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}): ` +
          `${result.stderr || result.stdout}\n${program === 'pg_ctl' ? this.log().slice(-2000) : ''}`.trim(),
      );
  }
}

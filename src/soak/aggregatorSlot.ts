import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CliProcess, spawnCli, stopCli } from '../faults/cliProcess.ts';
import { restartablePort } from '../faults/restartablePort.ts';

/**
 * The soak's aggregator: one store (a SQLite file or a PostgreSQL database), one port kept across
 * restarts (SIGKILL, then started again on the same store and port), its standard error appended to a
 * log file.
 */
export class AggregatorSlot {
  port = 0;
  restarts = 0;
  private process: CliProcess | undefined;
  private starting: Promise<void> | undefined;

  constructor(
    /** What its `--db` names: a SQLite file path or a postgres:// URL. */
    readonly dbPath: string,
    private readonly logDir: string,
    /** More options for `engine-link aggregator`. */
    private readonly args: readonly string[] = [],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  /**
   * Starts it (on the port it had, after the first start); resolves once it listens. `attempts` > 1 tries
   * again after a start that failed, for up to about 20 s with the default of 20: an aggregator on
   * PostgreSQL refuses to start while PostgreSQL itself is down or recovering (when both were killed at
   * about the same time). A kill waits for the whole start, retries included, so that two faults on the
   * aggregator never leave two of them running.
   */
  start(attempts = 1): Promise<void> {
    const starting = this.launchWithRetries(attempts);
    this.starting = starting;
    return starting;
  }

  private async launchWithRetries(attempts: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.launch();
        return;
      } catch (error) {
        if (attempt >= attempts) throw error;
        await sleep(Math.min(200 * attempt, 1000));
      }
    }
  }

  private async launch(): Promise<void> {
    // A port of its own outside the ephemeral range, kept across restarts (see restartablePort).
    if (this.port === 0) this.port = await restartablePort();
    const p = spawnCli(
      ['aggregator', '--port', String(this.port), '--db', this.dbPath, '--log-level', 'info', ...this.args],
      { stderrFile: join(this.logDir, 'aggregator.log') },
    );
    this.process = p;
    let line: string;
    try {
      line = await p.waitForLine(/listening on/);
    } catch (error) {
      // Never leave a process behind that could still take the port.
      p.child.kill('SIGKILL');
      if (this.process === p) this.process = undefined;
      throw error;
    }
    this.port = Number(/:(\d+) /.exec(line)![1]);
  }

  /** The running process (its output so far), if any. */
  get current(): CliProcess | undefined {
    return this.process;
  }

  /** SIGKILL: no chance to flush or close anything. */
  async kill(): Promise<boolean> {
    await this.starting?.catch(() => undefined);
    const p = this.process;
    this.process = undefined;
    if (!p) return false;
    p.child.kill('SIGKILL');
    await p.exited;
    this.restarts++;
    return true;
  }

  /** SIGTERM: a clean stop. Resolves with the exit code. */
  async stop(): Promise<number | null> {
    await this.starting?.catch(() => undefined);
    const p = this.process;
    this.process = undefined;
    return p ? stopCli(p, 'SIGTERM', 20_000) : 0;
  }
}

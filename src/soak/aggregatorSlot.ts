import { join } from 'node:path';
import { type CliProcess, spawnCli, stopCli } from '../faults/cliProcess.ts';

/**
 * The soak's aggregator: one SQLite file, one port kept across restarts (SIGKILL, then started again on
 * the same file and port), its standard error appended to a log file.
 */
export class AggregatorSlot {
  port = 0;
  restarts = 0;
  private process: CliProcess | undefined;
  private starting: Promise<void> | undefined;

  constructor(
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

  /** Starts it (on the port it had, after the first start); resolves once it listens. */
  start(): Promise<void> {
    this.starting = this.launch();
    return this.starting;
  }

  private async launch(): Promise<void> {
    const p = spawnCli(
      ['aggregator', '--port', String(this.port), '--db', this.dbPath, '--log-level', 'info', ...this.args],
      { stderrFile: join(this.logDir, 'aggregator.log') },
    );
    this.process = p;
    const line = await p.waitForLine(/listening on/);
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

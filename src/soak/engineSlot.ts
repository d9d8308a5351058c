import { join } from 'node:path';
import { type CliProcess, spawnCli, stopCli } from '../faults/cliProcess.ts';
import { FaultProxy } from '../transport/faultProxy.ts';
import type { EngineHistory } from './engineCheck.ts';
import { type EngineFinal, type EngineProgress, parseEngineLine } from './engineLines.ts';
import type { Lifetime } from './expectedRuns.ts';

export interface EngineSlotOptions {
  id: string;
  /** A durable outbox in this directory (synced on every record); none: the outbox is in memory. */
  outboxDir?: string;
  logDir: string;
  rate: number;
  runSeconds: number;
  failEvery: number;
  /** Randomness for the proxy's faults. */
  random: () => number;
  /**
   * `--progress-ms` (default 200). 0: none, and then nothing but the engine's own work keeps its process
   * alive, as when a user runs it.
   */
  progressMs?: number;
  /** `--log-level` (default info). */
  logLevel?: string;
  /** More options for `engine-link engine`. */
  args?: readonly string[];
  /** Connect to the aggregator directly, not through the slot's fault proxy. */
  direct?: boolean;
  /** Connect directly to these aggregators (nodes on one store; `--aggregator a,b`), not to the slot's. */
  aggregators?: readonly string[];
}

/** A process that ended before anyone stopped or killed it: how, and its log. */
export interface UnexpectedExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  log: string;
}

/**
 * One simulated engine of the soak (and of the process tests): a process (restarted after each SIGKILL;
 * on the same durable outbox, if it has one, so the same epoch and sequence numbers that carry on), and
 * the fault proxy on loopback that carries its link to the aggregator. It keeps what each process
 * printed: its start line, runs, progress, final line; and notes a process that exits on its own.
 */
export class EngineSlot implements EngineHistory {
  readonly id: string;
  readonly proxy: FaultProxy;
  readonly lifetimes: Lifetime[] = [];
  final: EngineFinal | undefined;
  exitCode: number | null | undefined;
  restarts = 0;
  /** Set when a process exited before it was stopped (SIGTERM) or killed (SIGKILL). */
  unexpectedExit: UnexpectedExit | undefined;
  private process: CliProcess | undefined;
  private started: Promise<void> | undefined;
  private latest: EngineProgress | undefined;
  private proxyPort = 0;

  constructor(
    private readonly options: EngineSlotOptions,
    private readonly aggregatorPort: number,
  ) {
    this.id = options.id;
    this.proxy = new FaultProxy({ host: '127.0.0.1', port: aggregatorPort }, { random: options.random });
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  get durable(): boolean {
    return this.options.outboxDir !== undefined;
  }

  /** The current process (its output so far, its child process). */
  get current(): CliProcess | undefined {
    return this.process;
  }

  /** The newest progress line of the current process. */
  get progress(): EngineProgress | undefined {
    return this.latest;
  }

  async openProxy(): Promise<void> {
    this.proxyPort = (await this.proxy.start()).port;
  }

  /** Starts a process; resolves once it has printed its start line (its outbox is open). */
  start(): Promise<void> {
    const o = this.options;
    const port = o.direct ? this.aggregatorPort : this.proxyPort;
    const progressMs = o.progressMs ?? 200;
    const p = spawnCli(
      [
        'engine',
        '--aggregator',
        o.aggregators?.join(',') ?? `ws://127.0.0.1:${port}`,
        '--id',
        o.id,
        '--simulate',
        '--rate',
        String(o.rate),
        '--run-seconds',
        String(o.runSeconds),
        '--fail-every',
        String(o.failEvery),
        ...(o.outboxDir === undefined ? [] : ['--outbox', o.outboxDir, '--outbox-sync', 'always']),
        '--print-runs',
        ...(progressMs > 0 ? ['--progress-ms', String(progressMs)] : []),
        '--drain-timeout',
        '60',
        '--log-level',
        o.logLevel ?? 'info',
        ...(o.args ?? []),
      ],
      { stderrFile: join(o.logDir, `${o.id}.log`) },
    );
    this.process = p;
    this.latest = undefined;
    let life: Lifetime | undefined;
    p.onLine((text) => {
      const line = parseEngineLine(text);
      if (!line) return;
      if (line.type === 'start') {
        life = { epoch: line.start.epoch, startSeq: line.start.lastSeq, runs: [], end: 'killed' };
        this.lifetimes.push(life);
      } else if (line.type === 'run') life?.runs.push(line.run);
      else if (line.type === 'progress' && this.process === p) this.latest = line.progress;
      else if (line.type === 'final') this.final = line.final;
    });
    void p.exited.then(() => {
      // Still the slot's process: nobody stopped or killed it.
      if (this.process === p && !this.unexpectedExit)
        this.unexpectedExit = { code: p.child.exitCode, signal: p.child.signalCode, log: p.stderr() };
    });
    this.started = p.waitForLine(/^\{"start"/).then(() => undefined);
    return this.started;
  }

  /** SIGKILL (once the process has opened its outbox and said so), and wait for it. */
  async kill(): Promise<boolean> {
    const p = this.process;
    if (!p) return false;
    await this.started?.catch(() => undefined);
    // Another fault killed (or killed and restarted) it while it was starting: that one owns it.
    if (this.process !== p) return false;
    this.process = undefined;
    p.child.kill('SIGKILL');
    await p.exited;
    this.restarts++;
    return true;
  }

  /** SIGTERM: the engine stops producing, drains its backlog and prints its final line. */
  async stop(): Promise<void> {
    const p = this.process;
    if (!p) return;
    await this.started?.catch(() => undefined);
    if (this.process !== p) return;
    this.process = undefined;
    this.exitCode = await stopCli(p, 'SIGTERM', 90_000);
    const life = this.lifetimes[this.lifetimes.length - 1];
    if (life) life.end = 'stopped';
  }
}

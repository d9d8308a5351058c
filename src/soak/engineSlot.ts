import { join } from 'node:path';
import { type CliProcess, spawnCli, stopCli } from '../faults/cliProcess.ts';
import { FaultProxy } from '../transport/faultProxy.ts';
import { type EngineFinal, type EngineProgress, parseEngineLine } from './engineLines.ts';
import type { Lifetime } from './expectedRuns.ts';

export interface EngineSlotOptions {
  id: string;
  outboxDir: string;
  logDir: string;
  rate: number;
  runSeconds: number;
  failEvery: number;
  /** Randomness for the proxy's faults. */
  random: () => number;
}

/**
 * One simulated engine of the soak: a process (restarted after each SIGKILL on the same durable outbox,
 * so the same epoch and sequence numbers that carry on), and the fault proxy on loopback that carries its
 * link to the aggregator. It keeps what each process printed: its start line, runs, progress, final line.
 */
export class EngineSlot {
  readonly id: string;
  readonly proxy: FaultProxy;
  readonly lifetimes: Lifetime[] = [];
  final: EngineFinal | undefined;
  exitCode: number | null | undefined;
  restarts = 0;
  private process: CliProcess | undefined;
  private started: Promise<void> | undefined;
  private latest: EngineProgress | undefined;
  private proxyPort = 0;

  constructor(
    private readonly options: EngineSlotOptions,
    aggregatorPort: number,
  ) {
    this.id = options.id;
    this.proxy = new FaultProxy({ host: '127.0.0.1', port: aggregatorPort }, { random: options.random });
  }

  get running(): boolean {
    return this.process !== undefined;
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
    const p = spawnCli(
      [
        'engine',
        '--aggregator',
        `ws://127.0.0.1:${this.proxyPort}`,
        '--id',
        o.id,
        '--simulate',
        '--rate',
        String(o.rate),
        '--run-seconds',
        String(o.runSeconds),
        '--fail-every',
        String(o.failEvery),
        '--outbox',
        o.outboxDir,
        '--outbox-sync',
        'always',
        '--print-runs',
        '--progress-ms',
        '200',
        '--drain-timeout',
        '60',
        '--log-level',
        'info',
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

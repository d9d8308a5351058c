import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts';
import { checkSeconds } from '../time/timerBounds.ts';
import { CommandError, type EngineCommand } from './commands.ts';
import type { EngineDispatcher } from './dispatcher.ts';
import { RunTracker } from './runTracker.ts';

/** Options of the `SimulatedEngine`. */
export interface SimulatedEngineOptions {
  /** Sample records per second, spread over the tags. Default 100. */
  rate?: number;
  /** Number of tags sampled. Default 5. */
  tags?: number;
  /** Length of each simulated method run, seconds; 0: runs only start on a `start` command. Default 0. */
  runSeconds?: number;
  /** Every Nth run fails instead of completing; 0: none fail. Default 0. */
  failEvery?: number;
  /** Pause between automatic runs, seconds. Default 1. */
  runGapSeconds?: number;
  clock?: Clock;
  /** Told of every run start and end, right after its event record is handed to the dispatcher. */
  onRun?: (run: SimulatedRunEvent) => void;
}

/** A run starting or ending on the simulated engine (engine time). */
export interface SimulatedRunEvent {
  event: 'started' | 'completed' | 'failed';
  runId: string;
  t: number;
}

const UNITS = ['degC', 'bar', 'rpm', 'pH', 'L/min'];

/** The highest `rate` a simulated engine takes, in records per second. */
export const MAX_SIMULATED_RATE = 1_000_000;
/** The most tags a simulated engine samples. */
export const MAX_SIMULATED_TAGS = 10_000;
/**
 * The most samples one tick produces. A tick that finds itself further behind (a stalled event loop)
 * produces this many and lets the schedule slip, so that signals, the link and its heartbeats always get
 * their turn: the engine never spends seconds in one burst.
 */
const MAX_SAMPLES_PER_TICK = 20_000;
/** The commands a simulated engine answers. */
export const SIMULATED_COMMANDS = ['start', 'stop', 'pause', 'resume', 'ping'] as const;
/** The phase of a run paused because the link has been down too long (`pauseForOutage`). */
export const PHASE_PAUSED_OFFLINE = 'paused-offline';

/**
 * A stand-in for a real engine: samples `tags` tags at `rate` records per second, runs methods of
 * `runSeconds` (every `failEvery`-th one fails), and answers the commands start, stop, pause, resume and
 * ping, all through any dispatcher. It neither knows nor cares whether the link is up.
 */
export class SimulatedEngine {
  readonly runs: RunTracker;
  private readonly rate: number;
  private readonly tagNames: string[];
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly runMs: number;
  private readonly failEvery: number;
  private readonly gapMs: number;
  private sampler: TimerHandle | undefined;
  private runTimer: TimerHandle | undefined;
  private startedAt = 0;
  private produced = 0;
  private runCount = 0;
  /** Time left of the current run while paused (ms). */
  private pausedRemaining: number | null = null;
  /** Who paused the current run: an operator's command, or an outage too long (see pauseForOutage). */
  private pausedBy: 'command' | 'outage' | null = null;
  private runDueAt = 0;
  private running = false;
  private readonly onRun: ((run: SimulatedRunEvent) => void) | undefined;

  constructor(
    private readonly dispatcher: EngineDispatcher,
    options: SimulatedEngineOptions = {},
  ) {
    this.rate = options.rate ?? 100;
    if (!(this.rate > 0 && this.rate <= MAX_SIMULATED_RATE))
      throw new RangeError(
        `rate must be a number of records per second above 0, at most ${MAX_SIMULATED_RATE}`,
      );
    const tags = options.tags ?? 5;
    if (!Number.isInteger(tags) || tags < 1 || tags > MAX_SIMULATED_TAGS)
      throw new RangeError(`tags must be a whole number from 1 to ${MAX_SIMULATED_TAGS}`);
    checkSeconds('runSeconds', options.runSeconds);
    checkSeconds('runGapSeconds', options.runGapSeconds);
    this.tagNames = Array.from({ length: tags }, (_, i) => `tag${i + 1}`);
    this.clock = options.clock ?? systemClock;
    this.tickMs = Math.max(10, Math.min(100, 1000 / this.rate));
    this.runMs = (options.runSeconds ?? 0) * 1000;
    this.failEvery = options.failEvery ?? 0;
    this.gapMs = (options.runGapSeconds ?? 1) * 1000;
    if (!(this.runMs >= 0)) throw new RangeError('runSeconds must be >= 0');
    if (!Number.isInteger(this.failEvery) || this.failEvery < 0)
      throw new RangeError('failEvery must be a whole number >= 0');
    this.runs = new RunTracker(dispatcher, this.clock);
    this.onRun = options.onRun;
  }

  /** Records handed to the dispatcher so far (samples). */
  get producedCount(): number {
    return this.produced;
  }

  /** Starts sampling (and running methods, with `runSeconds`). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.startedAt = this.clock.now();
    this.produced = 0;
    this.scheduleSampling();
    if (this.runMs > 0) this.startRun();
  }

  /** Stops sampling and running methods (the current run is left as it is: the process is going away). */
  stop(): void {
    this.running = false;
    this.sampler?.cancel();
    this.sampler = undefined;
    this.runTimer?.cancel();
    this.runTimer = undefined;
  }

  /** The command handler to give the dispatcher. */
  readonly handleCommand = (command: EngineCommand): unknown => {
    switch (command.name) {
      case 'ping':
        return { pong: this.clock.now() };
      case 'start': {
        if (this.runs.currentRun)
          throw new CommandError(
            'already-running',
            `run ${this.runs.currentRun.runId} is running; stop it first`,
          );
        const method = (command.args as { method?: unknown } | undefined)?.method;
        return { runId: this.startRun(typeof method === 'string' ? method : undefined) };
      }
      case 'stop': {
        const run = this.requireRun('stop');
        this.endRun(false);
        return { runId: run, stopped: true };
      }
      case 'pause': {
        const run = this.requireRun('pause');
        if (this.pausedRemaining !== null)
          throw new CommandError('already-paused', `run ${run} is paused already`);
        this.pause('paused', 'command');
        return { runId: run, phase: 'paused' };
      }
      case 'resume': {
        const run = this.requireRun('resume');
        if (this.pausedRemaining === null) throw new CommandError('not-paused', `run ${run} is not paused`);
        this.resume();
        return { runId: run, phase: 'running' };
      }
      default:
        throw new CommandError(
          'unknown-command',
          `unknown command "${command.name}"; this engine knows ${SIMULATED_COMMANDS.join(', ')}`,
        );
    }
  };

  /**
   * The link has been down too long for a method to run unobserved: the running method pauses (phase
   * `paused-offline`; its remaining time waits). A run paused already, or none, is left as it is.
   */
  pauseForOutage(): void {
    if (!this.runs.currentRun || this.pausedRemaining !== null) return;
    this.pause(PHASE_PAUSED_OFFLINE, 'outage');
  }

  /** The link is back: a method paused by `pauseForOutage` runs on (an operator's pause stays). */
  resumeAfterOutage(): void {
    if (this.pausedBy === 'outage' && this.runs.currentRun) this.resume();
  }

  private pause(phase: string, by: 'command' | 'outage'): void {
    this.runTimer?.cancel();
    this.pausedRemaining = Math.max(0, this.runDueAt - this.clock.now());
    this.pausedBy = by;
    this.runs.phase(phase);
  }

  private resume(): void {
    this.runs.phase('running');
    // A run with no scheduled end (started by command, `runSeconds` 0) has none after a pause either.
    const remaining = this.pausedRemaining ?? 0;
    if (Number.isFinite(remaining)) this.armRunEnd(remaining);
    this.pausedRemaining = null;
    this.pausedBy = null;
  }

  private requireRun(action: string): string {
    const run = this.runs.currentRun;
    if (!run) throw new CommandError('no-run', `no run is running: nothing to ${action}`);
    return run.runId;
  }

  private startRun(method = 'simulated-method'): string {
    this.runCount++;
    const runId = `${this.dispatcherId()}-${this.clock.now().toString(36)}-${this.runCount}`;
    this.runs.started(runId, method);
    this.onRun?.({ event: 'started', runId, t: this.runs.currentRun!.startedAt });
    this.runs.log('info', `method ${method} started`);
    this.pausedRemaining = null;
    this.pausedBy = null;
    this.runDueAt = Number.POSITIVE_INFINITY;
    if (this.runMs > 0) this.armRunEnd(this.runMs);
    return runId;
  }

  private armRunEnd(ms: number): void {
    this.runTimer?.cancel();
    this.runDueAt = this.clock.now() + ms;
    this.runTimer = this.clock.setTimeout(() => this.endRun(true), ms);
  }

  /** Ends the current run: by schedule (every Nth fails) or by an operator's stop (completes). */
  private endRun(scheduled: boolean): void {
    this.runTimer?.cancel();
    this.runTimer = undefined;
    this.pausedRemaining = null;
    this.pausedBy = null;
    const runId = this.runs.currentRun?.runId;
    const failed = scheduled && this.failEvery > 0 && this.runCount % this.failEvery === 0;
    if (failed) {
      this.runs.log('error', 'simulated failure');
      this.runs.failed('simulated failure');
    } else this.runs.completed();
    const last = this.runs.snapshot().last;
    if (runId !== undefined && last)
      this.onRun?.({ event: failed ? 'failed' : 'completed', runId, t: last.endedAt });
    if (this.running && this.runMs > 0)
      this.runTimer = this.clock.setTimeout(() => {
        if (this.running && !this.runs.currentRun) this.startRun();
      }, this.gapMs);
  }

  private dispatcherId(): string {
    return this.dispatcher.engineId;
  }

  private scheduleSampling(): void {
    this.sampler = this.clock.setTimeout(() => {
      this.tick();
      if (this.sampler) this.scheduleSampling();
    }, this.tickMs);
  }

  private tick(): void {
    const now = this.clock.now();
    const due = Math.min(
      Math.floor(((now - this.startedAt) * this.rate) / 1000),
      this.produced + MAX_SAMPLES_PER_TICK,
    );
    while (this.produced < due) {
      const index = this.produced % this.tagNames.length;
      const phase = (now - this.startedAt) / 10_000 + index;
      this.dispatcher.send({
        kind: 'sample',
        tag: this.tagNames[index]!,
        value: Math.round((50 + 20 * Math.sin(phase)) * 1000) / 1000,
        unit: UNITS[index % UNITS.length],
        // Each sample at its own due time: strictly increasing, even when a late tick catches up.
        t: this.startedAt + (this.produced * 1000) / this.rate,
      });
      this.produced++;
    }
  }
}

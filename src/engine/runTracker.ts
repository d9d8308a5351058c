import type { RunSnapshot } from '../protocol/messages.ts';
import type { Json } from '../protocol/records.ts';
import { type Clock, systemClock } from '../time/clock.ts';
import type { EngineDispatcher } from './dispatcher.ts';

type CurrentRun = NonNullable<RunSnapshot['current']>;
type LastRun = NonNullable<RunSnapshot['last']>;

/**
 * The engine's account of its runs. Every change is an event record (never dropped by the outbox),
 * stamped with the engine's own clock, so the aggregator can reconcile runs that start and end while it
 * cannot be reached. `snapshot()` is what the engine tells in every hello.
 */
export class RunTracker {
  private current: CurrentRun | null = null;
  private last: LastRun | null = null;
  private readonly clock: Clock;

  constructor(
    private readonly dispatcher: EngineDispatcher,
    clock: Clock = systemClock,
  ) {
    this.clock = clock;
  }

  /** The run in progress (null: none). */
  get currentRun(): Readonly<CurrentRun> | null {
    return this.current;
  }

  /** Starts a run: sends `run.started` (an event record, never dropped). */
  started(runId: string, method?: string): void {
    if (this.current)
      throw new Error(`run ${this.current.runId} is still running; end it before starting ${runId}`);
    const t = this.clock.now();
    this.current = { runId, phase: 'running', startedAt: t };
    this.event('run.started', { runId, ...(method ? { method } : {}) }, t);
  }

  /** The current run entered a phase (paused, running, ...): sends `run.phase`. */
  phase(phase: string): void {
    const run = this.requireRun('change phase');
    run.phase = phase;
    this.event('run.phase', { runId: run.runId, phase });
  }

  /** The current run completed: sends `run.completed`. */
  completed(): void {
    this.end('completed');
  }

  /** The current run failed: sends `run.failed` with the reason. */
  failed(reason: string): void {
    this.end('failed', reason);
  }

  /** A method or error-log entry, tied to the current run when there is one. */
  log(level: 'info' | 'warn' | 'error', message: string, data?: Json): void {
    this.event('log', {
      level,
      message,
      runId: this.current?.runId ?? null,
      ...(data === undefined ? {} : { data }),
    });
  }

  /**
   * The current run and the last run's outcome, for the dispatcher's `snapshot` option (sent with every
   * hello).
   */
  snapshot(): RunSnapshot {
    return { current: this.current ? { ...this.current } : null, last: this.last ? { ...this.last } : null };
  }

  private end(outcome: 'completed' | 'failed', reason?: string): void {
    const run = this.requireRun(outcome === 'completed' ? 'complete' : 'fail');
    const t = this.clock.now();
    this.event(
      `run.${outcome}`,
      { runId: run.runId, startedAt: run.startedAt, ...(reason === undefined ? {} : { reason }) },
      t,
    );
    this.last = {
      runId: run.runId,
      outcome,
      startedAt: run.startedAt,
      endedAt: t,
      ...(reason ? { reason } : {}),
    };
    this.current = null;
  }

  private requireRun(what: string): CurrentRun {
    if (!this.current) throw new Error(`no run is running: cannot ${what}`);
    return this.current;
  }

  private event(name: string, data: Json, t = this.clock.now()): void {
    this.dispatcher.send({ kind: 'event', name, data, t });
  }
}

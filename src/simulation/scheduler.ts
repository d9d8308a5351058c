import type { SimulatedClock } from '../time/simulatedClock.ts';
import { settle } from '../time/simulatedClock.ts';
import type { Random } from './random.ts';
import type { Trace } from './trace.ts';

/** Something that can happen now: a delivery, a connect, a commit. */
export interface Task {
  label: string;
  run(): void;
}

/** A part of the world with work that waits for the scheduler (the network, the aggregator's commits). */
export interface TaskSource {
  /** Adds what may run now to `out`, in a stable order. */
  tasks(now: number, out: Task[]): void;
  /** When something of this source that waits for time becomes ready (undefined: nothing waits). */
  nextReadyAt?(now: number): number | undefined;
}

/** How eager the scheduler is to run ready work before time moves on. */
export interface SchedulerOptions {
  /** When work is ready, the chance that time moves instead (a busy event loop, slow delivery). */
  advanceWhileReady: number;
  /** How far time moves at most when work is ready (ms). */
  maxAdvanceWhileReadyMs: number;
  /** How far time moves when nothing at all is scheduled (ms). */
  idleAdvanceMs: number;
  /**
   * When nothing is ready, time moves to the next timer and up to this much further, running every
   * timer on the way in one go (one turn of a busy event loop): fewer steps per simulated second. Kept
   * well under the heartbeat timeout (2.5 s): nothing is delivered during a batch, and a longer one makes
   * every link time out.
   */
  idleBatchMs: number;
}

export const SCHEDULER_DEFAULTS: SchedulerOptions = {
  advanceWhileReady: 0.08,
  maxAdvanceWhileReadyMs: 40,
  idleAdvanceMs: 1000,
  idleBatchMs: 1000,
};

/**
 * The one scheduler: every step either runs one piece of ready work, drawn at random from everything
 * ready (each network flow's next delivery, each pending connect, the aggregator's pending group
 * commit), or moves simulated time forward and runs the timers that fall due (as Node's timers phase
 * does); then lets promises and immediates settle. What is drawn comes from the seeded `Random`, so a
 * seed fixes the whole interleaving; every step is written to the trace.
 */
export class Scheduler {
  private readonly sources: TaskSource[] = [];
  private readonly ready: Task[] = [];
  /** Where simulated time started: the trace shows time since then. */
  private readonly start: number;

  constructor(
    readonly clock: SimulatedClock,
    private readonly random: Random,
    private readonly trace: Trace,
    private readonly options: SchedulerOptions = SCHEDULER_DEFAULTS,
  ) {
    this.start = clock.now();
  }

  /** A trace line: simulated seconds since the start (ms precision), and what happened. */
  private note(at: number, what: string): void {
    this.trace.add(`${((at - this.start) / 1000).toFixed(3).padStart(9)} ${what}`);
  }

  add(source: TaskSource): void {
    this.sources.push(source);
  }

  /** Runs `label` now, as a step of its own (faults, crashes, operators' actions); traces what it says. */
  async act(label: string, action: () => unknown): Promise<void> {
    const now = this.clock.now();
    const said = action();
    this.note(now, `${label}${typeof said === 'string' && said ? `: ${said}` : ''}`);
    await settle(3);
  }

  /** One step of ready work or of time. Returns what it did. */
  async step(): Promise<string> {
    const now = this.clock.now();
    this.ready.length = 0;
    for (const source of this.sources) source.tasks(now, this.ready);
    let label: string;
    if (this.ready.length > 0 && !this.random.chance(this.options.advanceWhileReady)) {
      const task = this.random.pick(this.ready);
      label = task.label;
      this.note(now, label);
      task.run();
    } else {
      const busy = this.ready.length > 0;
      const limit = busy ? now + this.random.int(1, this.options.maxAdvanceWhileReadyMs) : undefined;
      const target = this.nextEventAt(now, limit) + (busy ? 0 : this.random.int(0, this.options.idleBatchMs));
      const ran = this.clock.runDue(target);
      label = `time +${target - now} (${ran} timers)`;
      this.note(target, label);
    }
    await settle(3);
    return label;
  }

  /** Moves time by exactly `ms`, running every timer and ready task on the way (quiet phases). */
  async runFor(ms: number, stepDone?: () => void): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      await this.step();
      stepDone?.();
    }
  }

  private nextEventAt(now: number, limit: number | undefined): number {
    let next = this.clock.nextDueAt;
    for (const source of this.sources) {
      const at = source.nextReadyAt?.(now);
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    if (next === undefined) next = now + this.options.idleAdvanceMs;
    if (limit !== undefined) next = Math.min(next, limit);
    return Math.max(next, now + 1);
  }
}

import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts';
import type { EngineDispatcher } from './dispatcher.ts';

export interface SimulatedEngineOptions {
  /** Sample records per second, spread over the tags. Default 100. */
  rate?: number;
  /** Number of tags sampled. Default 5. */
  tags?: number;
  clock?: Clock;
}

const UNITS = ['degC', 'bar', 'rpm', 'pH', 'L/min'];

/**
 * A stand-in for a real engine: samples `tags` tags at `rate` records per second through any
 * dispatcher. It neither knows nor cares whether the link is up.
 */
export class SimulatedEngine {
  private readonly rate: number;
  private readonly tagNames: string[];
  private readonly clock: Clock;
  private timer: TimerHandle | undefined;
  private startedAt = 0;
  private produced = 0;
  private readonly tickMs: number;

  constructor(
    private readonly dispatcher: EngineDispatcher,
    options: SimulatedEngineOptions = {},
  ) {
    this.rate = options.rate ?? 100;
    if (!(this.rate > 0)) throw new RangeError('rate must be a positive number of records per second');
    const tags = options.tags ?? 5;
    if (!Number.isInteger(tags) || tags < 1) throw new RangeError('tags must be a positive whole number');
    this.tagNames = Array.from({ length: tags }, (_, i) => `tag${i + 1}`);
    this.clock = options.clock ?? systemClock;
    this.tickMs = Math.max(10, Math.min(100, 1000 / this.rate));
  }

  /** Records handed to the dispatcher so far. */
  get producedCount(): number {
    return this.produced;
  }

  start(): void {
    if (this.timer) return;
    this.startedAt = this.clock.now();
    this.produced = 0;
    this.schedule();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => {
      this.tick();
      if (this.timer) this.schedule();
    }, this.tickMs);
  }

  private tick(): void {
    const now = this.clock.now();
    const due = Math.floor(((now - this.startedAt) * this.rate) / 1000);
    while (this.produced < due) {
      const index = this.produced % this.tagNames.length;
      const phase = (now - this.startedAt) / 10_000 + index;
      this.dispatcher.send({
        kind: 'sample',
        tag: this.tagNames[index]!,
        value: Math.round((50 + 20 * Math.sin(phase)) * 1000) / 1000,
        unit: UNITS[index % UNITS.length],
        t: now,
      });
      this.produced++;
    }
  }
}

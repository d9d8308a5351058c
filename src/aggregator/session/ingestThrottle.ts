import type { Clock } from '../../time/clock.ts';

/**
 * A token bucket for one engine's ingest: `ratePerSecond` records a second on average, bursts of up to
 * `burst` records. A frame may take the bucket into debt (so a frame larger than the burst still passes);
 * the next frame then waits until the debt is paid back. Time comes from the aggregator's clock.
 */
export class IngestThrottle {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly clock: Clock,
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError('the ingest rate must be above 0 records per second');
    this.tokens = burst;
    this.updatedAt = clock.now();
  }

  /** Milliseconds until a frame may be ingested (0: now). */
  waitMs(): number {
    this.refill();
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.ratePerSecond);
  }

  /** Spends `records` (may go into debt). */
  take(records: number): void {
    this.refill();
    this.tokens -= records;
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = now - this.updatedAt;
    if (elapsed <= 0) return;
    this.updatedAt = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
  }
}

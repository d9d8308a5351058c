import { type Clock, systemClock } from '../../../time/clock.ts';
import type { StoreAvailability } from '../storeAvailability.ts';
import { isConnectionLoss } from './connectionLoss.ts';

/**
 * How long to wait before each attempt to reach PostgreSQL again: quickly at first (a restart takes a
 * second or two), then every 5 s for as long as it takes.
 */
export const POSTGRES_RECONNECT_SCHEDULE_MS: readonly number[] = [250, 500, 1000, 2000, 5000];

export interface PostgresAvailabilityOptions {
  /** Asks the server whether it answers (a `SELECT 1`); rejects when it does not. */
  probe: () => Promise<unknown>;
  clock?: Clock;
  scheduleMs?: readonly number[];
}

/**
 * PostgreSQL's availability, as the store's transactions find it: a transaction that fails with a
 * connection error makes it unavailable; then the server is asked again on the reconnect schedule until
 * it answers, and it is available again.
 */
export class PostgresAvailability implements StoreAvailability {
  available = true;
  reason: string | undefined;
  /** Attempts to reach the server since it was lost. */
  attempts = 0;
  private readonly probe: () => Promise<unknown>;
  private readonly clock: Clock;
  private readonly schedule: readonly number[];
  private readonly listeners: Array<(available: boolean, reason: string | undefined) => void> = [];
  private waiters: Array<() => void> = [];
  private closed = false;
  private timer: { cancel(): void } | undefined;

  constructor(options: PostgresAvailabilityOptions) {
    this.probe = options.probe;
    this.clock = options.clock ?? systemClock;
    this.schedule = options.scheduleMs ?? POSTGRES_RECONNECT_SCHEDULE_MS;
  }

  whenAvailable(): Promise<void> {
    if (this.available) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  isOutage(error: unknown): boolean {
    return isConnectionLoss(error);
  }

  lost(error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    this.reason = reason;
    if (!this.available || this.closed) return;
    this.available = false;
    this.attempts = 0;
    this.tell();
    this.scheduleProbe();
  }

  onChange(listener: (available: boolean, reason: string | undefined) => void): void {
    this.listeners.push(listener);
  }

  /** Stops asking (the store is closing); whoever waits for it is let go. */
  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.release();
  }

  private scheduleProbe(): void {
    const wait = this.schedule[Math.min(this.attempts, this.schedule.length - 1)]!;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.tryAgain();
    }, wait);
  }

  private async tryAgain(): Promise<void> {
    if (this.closed) return;
    this.attempts++;
    try {
      await this.probe();
    } catch (error) {
      this.reason = error instanceof Error ? error.message : String(error);
      if (!this.closed) this.scheduleProbe();
      return;
    }
    this.available = true;
    this.reason = undefined;
    this.tell();
    this.release();
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private tell(): void {
    for (const listener of this.listeners) listener(this.available, this.reason);
  }
}

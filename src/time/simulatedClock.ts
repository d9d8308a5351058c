import type { Clock, TimerHandle } from './clock.ts';

interface PendingTimer {
  readonly due: number;
  readonly order: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. `advance(ms)` runs every timer that falls due, in due order,
 * letting promises settle between timers so that work a timer starts can finish before the next one.
 */
export class SimulatedClock implements Clock {
  private current: number;
  private order = 0;
  private timers: PendingTimer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: PendingTimer = {
      due: this.current + Math.max(0, ms),
      order: this.order++,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of timers that are scheduled and not cancelled. */
  get pendingTimers(): number {
    return this.timers.filter((timer) => !timer.cancelled).length;
  }

  /** Moves time forward by `ms`, running due timers in order. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await settle();
      const next = this.nextDue(target);
      if (!next) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.current = next.due;
      next.callback();
    }
    this.current = target;
    await settle();
  }

  /** When the next timer falls due (undefined: none is scheduled). */
  get nextDueAt(): number | undefined {
    return this.nextDue(Number.POSITIVE_INFINITY)?.due;
  }

  /**
   * Runs, synchronously and in due order, every timer due up to `until` (timers those timers schedule
   * included), then moves time to `until`: what Node's timers phase does with expired timers, for a
   * scheduler that lets promises and immediates settle itself. Returns how many timers ran.
   */
  runDue(until: number): number {
    let ran = 0;
    for (;;) {
      const next = this.nextDue(until);
      if (!next) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.current = next.due;
      ran++;
      next.callback();
    }
    this.current = Math.max(this.current, until);
    return ran;
  }

  private nextDue(limit: number): PendingTimer | undefined {
    this.timers = this.timers.filter((timer) => !timer.cancelled);
    let best: PendingTimer | undefined;
    for (const timer of this.timers) {
      if (timer.due > limit) continue;
      if (!best || timer.due < best.due || (timer.due === best.due && timer.order < best.order)) best = timer;
    }
    return best;
  }
}

/**
 * Lets every already-queued callback, promise continuation and I/O completion run: a few turns of the
 * event loop. Not a sleep: no wall-clock time is waited for.
 */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

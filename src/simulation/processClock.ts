import type { Clock, TimerHandle } from '../time/clock.ts';

/**
 * One simulated process's view of the shared simulated clock: its timers die with it. When the
 * simulation kills a process (an engine or the aggregator), `kill()` cancels every timer the process
 * set, and timers it tries to set afterwards (from a callback already queued) never fire: a killed
 * process does nothing more.
 */
export class ProcessClock implements Clock {
  private readonly timers = new Set<TimerHandle>();
  private dead = false;

  constructor(private readonly clock: Clock) {}

  get alive(): boolean {
    return !this.dead;
  }

  now(): number {
    return this.clock.now();
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    if (this.dead) return { cancel() {} };
    const handle: TimerHandle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      if (!this.dead) callback();
    }, ms);
    this.timers.add(handle);
    return {
      cancel: () => {
        this.timers.delete(handle);
        handle.cancel();
      },
    };
  }

  kill(): void {
    this.dead = true;
    for (const timer of this.timers) timer.cancel();
    this.timers.clear();
  }
}
